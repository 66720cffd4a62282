"""Retention on both backends: old raw rows deleted in small batches, recent rows and the
rollups of the old period kept, no false gaps, ingest going on between batches."""

from __future__ import annotations

from typing import Any

import pytest
from pg_msgs import ack, tele

from central.storage.base import Storage
from central.storage.retention import DAY_MS, Retention, RetentionPolicy
from central.storage.rollup import BUCKET_MS

# tele() gives sample seq s the time s * 1000 ms: with NOW, a 1-day raw period deletes the
# samples of seq < 300 (ts < 300 s) and keeps 300 and above.
NOW = DAY_MS + 300_000
UPLINKS = {"uplinks": [{"name": "fiber", "active": True, "rtt_ms": 20.0, "loss_pct": 0.0,
                        "rx_bps": 1000, "tx_bps": 500}]}


def _fill(store: Storage, node: str = "n1", last: int = 600) -> None:
    for lo in range(1, last + 1, 100):
        store.write([tele(list(range(lo, min(lo + 100, last + 1))), node=node, t=lo,
                          sample=UPLINKS)])


def _rollup(store: Storage, node: str = "n1") -> list[dict[str, Any]]:
    return store.rollup(node, 0, 2**62, BUCKET_MS)


def test_old_raw_rows_go_recent_rows_and_rollups_stay(store: Storage) -> None:
    _fill(store)
    _fill(store, node="n2", last=250)  # all of n2's samples are old
    # events share the seq space: an old one (before seq 1) and a recent one (after seq 600)
    store.write([tele([], events=[{"seq": 0, "ts_ms": 0, "kind": "failover"},
                                  {"seq": 601, "ts_ms": 601_000, "kind": "restored"}], t=700),
                 ack("c1", "applied", t=10)])
    rollups_before = {n: _rollup(store, n) for n in ("n1", "n2")}
    assert store.totals()["samples"] == 850

    ret = Retention(store, RetentionPolicy(raw_days=1, rollup_days=2, pause_s=0))
    done = ret.run_pass(NOW)

    assert done == {"samples": 299 + 250, "events": 1, "drops": 0, "rollup_5m": 0,
                    "cmd_acks": 0}
    kept = store.samples("n1", None, None, 1000)
    assert [r["seq"] for r in kept] == list(range(300, 601))
    assert store.samples("n2", None, None, 1000) == []
    assert [e["kind"] for e in store.events("n1", None, None, 10)] == ["restored"]
    # the 5-minute rollups of the deleted period are untouched: 30-day and budget views work
    assert {n: _rollup(store, n) for n in ("n1", "n2")} == rollups_before
    assert sum(r["n"] for r in _rollup(store, "n1") if r["uplink"] == "") == 600
    assert store.site_rx(0, 2**62)  # the budget's per-site series still has the old buckets
    # deleting the oldest records leaves no hole between the records that remain
    assert store.gaps(NOW + DAY_MS, 0) == []
    # nodes themselves (presence, birth) are never deleted
    assert {r["node"] for r in store.list_nodes()} == {"n1", "n2"}
    # a second pass finds nothing more
    assert sum(ret.run_pass(NOW).values()) == 0
    assert ret.stats.deleted["samples"] == 549 and ret.stats.passes == 2


def test_rollups_and_acks_go_after_their_own_period(store: Storage) -> None:
    _fill(store, last=100)
    store.write([ack("c1", "applied", t=10)])
    ret = Retention(store, RetentionPolicy(raw_days=1, rollup_days=1, pause_s=0))
    done = ret.run_pass(NOW + 2 * DAY_MS)
    assert done["samples"] == 100 and done["cmd_acks"] == 1
    assert done["rollup_5m"] == len({(s * 1000) // BUCKET_MS for s in range(1, 101)}) * 2
    assert _rollup(store) == []


def test_keep_forever_deletes_nothing(store: Storage) -> None:
    _fill(store, last=100)
    done = Retention(store, RetentionPolicy(raw_days=0, rollup_days=0)).run_pass(NOW * 1000)
    assert done == {}
    assert store.totals()["samples"] == 100


class _Watched:
    """A Storage whose delete_old records each batch and stores a new sample after it (the
    collector writing while retention runs)."""

    def __init__(self, store: Storage) -> None:
        self.store = store
        self.batches: list[int] = []

    def retention_nodes(self) -> list[str]:
        return self.store.retention_nodes()

    def delete_old(self, table: str, node: str, cutoff_ms: int, limit: int) -> int:
        n = self.store.delete_old(table, node, cutoff_ms, limit)
        if table == "samples":
            self.batches.append(n)
            self.store.write([tele([10_000 + len(self.batches)], node=node, t=NOW)])
        return n


def test_deletion_proceeds_in_small_batches(store: Storage) -> None:
    _fill(store, last=450)
    watched = _Watched(store)
    ret = Retention(watched, RetentionPolicy(raw_days=1, rollup_days=2, batch_rows=100,  # type: ignore[arg-type]
                                             pause_s=0))
    ret.run_pass(NOW)
    # 299 old samples: three batches (100, 100, 99), each its own transaction; the last one,
    # shorter than a batch, ends the node
    assert watched.batches == [100, 100, 99]
    # every sample written between batches is stored and kept (new seqs, recent enough)
    seqs = [r["seq"] for r in store.samples("n1", None, None, 1000)]
    assert seqs[-3:] == [10_001, 10_002, 10_003]
    assert seqs[:-3] == list(range(300, 451))
    assert ret.stats.batches == 3 + 5 - 1  # + one empty batch for each other table


def test_a_stopped_pass_ends_after_its_batch(store: Storage) -> None:
    _fill(store, last=450)
    ret = Retention(store, RetentionPolicy(raw_days=1, rollup_days=2, batch_rows=100,
                                           pause_s=0))
    ret.stop()
    assert sum(ret.run_pass(NOW).values()) == 0
    assert store.totals()["samples"] == 450


@pytest.mark.parametrize(("raw", "rollup", "needle"), [
    (30, 10, "rollup_retention_days (10) must be 0"),
    (0, 3650, "raw_retention_days (forever)"),
])
def test_bad_policy_is_refused(raw: int, rollup: int, needle: str) -> None:
    with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        RetentionPolicy(raw_days=raw, rollup_days=rollup)
