"""Several collectors (separate connections, separate threads) writing one database at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

from pg_msgs import birth, presence, state, tele

from central.storage import Incoming
from central.storage.base import Storage

OpenFn = Callable[[], Storage]

NODES = ["n1", "n2", "n3"]


def _run_all(jobs: list[Callable[[], None]]) -> None:
    """Run jobs in threads started together; re-raise the first failure."""
    start, errors = threading.Barrier(len(jobs)), []

    def wrap(job: Callable[[], None]) -> None:
        try:
            start.wait(timeout=30)
            job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(j,)) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "writer thread hung"
    if errors:
        raise errors[0]


def _batches(reverse: bool) -> list[list[Incoming]]:
    """Overlapping batches over 3 nodes; the reversed writer touches nodes and seqs backwards."""
    out = []
    for lo in range(1, 200, 7):  # windows of 10 overlapping by 3
        seqs = list(range(lo, lo + 10))
        msgs = [tele([s], node=n, t=lo) for n in NODES for s in seqs]
        out.append(msgs[::-1] if reverse else msgs)
    return out


def test_overlapping_batches_from_two_writers_store_every_seq_once(open_backend: OpenFn) -> None:
    a, b = open_backend(), open_backend()

    def writer(db: Storage, reverse: bool) -> Callable[[], None]:
        def run() -> None:
            for batch in _batches(reverse):
                db.write(batch)
        return run

    _run_all([writer(a, False), writer(b, True)])
    expected = list(range(1, 207))  # windows 1..10, 8..17, ..., 197..206
    for node in NODES:
        got = [r["seq"] for r in a.samples(node, None, None, 10_000)]
        assert got == expected, node
    assert a.totals()["samples"] == len(NODES) * len(expected)
    assert b.gaps(10**12, 0) == []


def test_presence_has_no_lost_updates_between_collectors(open_backend: OpenFn) -> None:
    a, b = open_backend(), open_backend()
    a.write([birth(0, 1)])

    def sessions(db: Storage, parity: int) -> Callable[[], None]:
        def run() -> None:
            for s in range(1 + parity, 61, 2):  # each node connection: birth, then its Will
                db.write([birth(s, 10 * s)])
                if s != 60:
                    db.write([state(False, s, 10 * s + 5)])
        return run

    _run_all([sessions(a, 0), sessions(b, 1)])
    # whatever the interleaving, the newest session wins and it is still online
    assert presence(a) == (1, 60, None)
    assert a.list_nodes()[0]["online_since_ms"] == 600
