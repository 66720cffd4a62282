"""Write-behind outbox (issue 15): publish from RAM, write only what is unreceipted at flush."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.config import OutboxSection, parse_config
from agent.transport.forwarder import Forwarder
from agent.transport.outbox import RESERVE_FLUSHES, Outbox
from protocol.messages import DeliveryReceipt, Tele


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _ob(path: Path, clock: FakeClock | None = None, **kw: object) -> Outbox:
    cfg = OutboxSection(**kw)  # type: ignore[arg-type]
    return Outbox(path / "outbox.sqlite", cfg, flush_after_s=60.0, clock=clock or FakeClock())


def _disk_seqs(path: Path) -> list[int]:
    with sqlite3.connect(path / "outbox.sqlite") as db:
        return [r[0] for r in db.execute("SELECT seq FROM rec ORDER BY seq")]


def test_new_record_is_readable_at_once_and_a_receipt_spares_the_card(tmp_path: Path) -> None:
    clock = FakeClock()
    ob = _ob(tmp_path, clock, flush_every=3)
    commits = ob.commits
    for i in range(12):
        seq = ob.add("sample", i, {"ts_ms": i})
        assert [r.seq for r in ob.read_after(seq - 1, 50)] == [seq]  # before any write
        assert ob.sendable_upto == seq
        ob.ack([(seq, seq)])
        assert ob.read_range(seq, seq) == []
        clock.t += 10
    assert not ob.flush_due()  # nothing owed: the check point costs no transaction ...
    assert ob.last_commit == clock.t  # ... and counts as a successful write (watchdog)
    assert ob.commits == commits  # 12 records, all receipted in RAM: no transaction at all
    assert _disk_seqs(tmp_path) == []


def test_only_unreceipted_records_are_written_at_flush(tmp_path: Path) -> None:
    clock = FakeClock()
    ob = _ob(tmp_path, clock, flush_every=6)
    seqs = [ob.add("sample", i, {"ts_ms": i}) for i in range(4)]
    ob.ack([(seqs[0], seqs[1])])
    assert not ob.flush_due()
    clock.t += 61  # the oldest unreceipted record waited flush_after_s
    assert ob.flush_due()
    ob.flush()
    assert _disk_seqs(tmp_path) == seqs[2:]
    ob.ack([(seqs[2], seqs[2])])  # a row on disk: deleted by the next transaction
    assert [r.seq for r in ob.read_after(-1, 50)] == seqs[3:]
    ob.close()
    assert _disk_seqs(tmp_path) == seqs[3:]


def test_offline_fills_the_buffer_and_writes_every_flush_every(tmp_path: Path) -> None:
    ob = _ob(tmp_path, flush_every=4)
    seqs = [ob.add("sample", i, {"ts_ms": i}) for i in range(10)]
    assert _disk_seqs(tmp_path) == seqs[:8]  # nothing receipted: disk first, as before
    assert [r.seq for r in ob.read_after(-1, 50)] == seqs


def test_flush_then_send_order_is_kept_behind_the_switch(tmp_path: Path) -> None:
    ob = _ob(tmp_path, flush_every=4, write_behind=False)
    seqs = [ob.add("sample", i, {"ts_ms": i}) for i in range(6)]
    assert ob.sendable_upto == seqs[3]
    assert [r.seq for r in ob.read_after(-1, 50)] == seqs[:4]  # only what is on disk


def test_warning_events_and_failover_transitions_are_written_at_once(tmp_path: Path) -> None:
    ob = _ob(tmp_path, flush_every=6)
    warn = ob.add("event", 1, {"kind": "uplink_down", "severity": "warning"})
    info = ob.add("event", 2, {"kind": "note", "severity": "info"})
    back = ob.add("event", 3, {"kind": "failback", "severity": "info"})
    assert _disk_seqs(tmp_path) == [warn, info, back]


def test_power_cut_never_reuses_a_receipted_seq(tmp_path: Path) -> None:
    ob = _ob(tmp_path, flush_every=2)
    seqs = []
    for i in range(5):
        seqs.append(ob.add("sample", i, {"ts_ms": i}))
        if i < 4:  # the last one is unreceipted, in RAM: lost by the cut
            ob.ack([(seqs[-1], seqs[-1])])
    assert ob.commits == 1 and _disk_seqs(tmp_path) == []  # only the opening reservation
    del ob  # no close: a power cut
    ob2 = _ob(tmp_path, flush_every=2)
    assert ob2.next_seq == seqs[0] + 2 * RESERVE_FLUSHES  # above every seq ever handed out
    assert ob2.bounds() == (None, None)


def test_memory_holds_at_most_one_flush_of_records(tmp_path: Path) -> None:
    ob = _ob(tmp_path, flush_every=5)
    for i in range(200):
        ob.add("sample", i, {"ts_ms": i})
        assert ob.bounds()[1] == ob.next_seq - 1
        assert len(ob._buffer) < 5



@pytest.mark.parametrize("write_behind", [True, False])
def test_forwarder_publishes_a_new_record_from_ram_and_the_receipt_ends_it(
        tmp_path: Path, write_behind: bool) -> None:
    cfg = parse_config({"node": {"id": "n1", "site": "s1"},
                        "outbox": {"flush_every": 6, "write_behind": write_behind}})
    ob = Outbox(tmp_path / "ob.sqlite", cfg.outbox)
    sent: list[Tele] = []
    fwd = Forwarder(cfg, ob, lambda t: sent.append(t) or len(sent), rng=lambda: 0.5)
    fwd.on_connected(1, 0.0)
    fwd.on_central_state("c1", True, 0.0)
    commits = ob.commits
    seq = ob.add("sample", 1, {"ts_ms": 1})
    fwd.pump(0.0)
    if write_behind:
        assert [t.record_seqs() for t in sent] == [[seq]] and not sent[0].historical
        fwd.on_receipt(DeliveryReceipt(site="s1", node="n1", ts_ms=0, session=1,
                                       acked=[(seq, seq)]))
        assert fwd.inflight == {} and ob.bounds() == (None, None) and ob.commits == commits
    else:  # the anchor: nothing is sent before the flush
        assert sent == [] and fwd.next_due() is None
    ob.close()
