"""The forwarder's rules with a recording publisher and explicit times (no broker, no sleeps)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from agent.config import parse_config
from agent.transport.forwarder import Forwarder, ReceiptTimer
from agent.transport.outbox import Outbox
from protocol.messages import DeliveryReceipt, Tele


def _setup(tmp_path: Path, n: int, **outbox: Any) -> tuple[Forwarder, Outbox, list[Tele]]:
    cfg = parse_config({"node": {"id": "n1", "site": "s1"},
                        "outbox": {"flush_every": 1, "retry_min_s": 2.0, "retry_max_s": 16.0,
                                   **outbox}})
    ob = Outbox(tmp_path / "ob.sqlite", cfg.outbox)
    for i in range(n):
        ob.add("sample", 1000 + i, {"ts_ms": 1000 + i})
    sent: list[Tele] = []
    fwd = Forwarder(cfg, ob, lambda t: sent.append(t) or len(sent), rng=lambda: 0.5)
    return fwd, ob, sent


def _rx(lo: int, hi: int) -> DeliveryReceipt:
    return DeliveryReceipt(site="s1", node="n1", ts_ms=0, session=1, acked=[(lo, hi)])


def test_window_bounds_batches_in_flight(tmp_path: Path) -> None:
    fwd, ob, sent = _setup(tmp_path, 50, window=3, batch_max_records=5)
    fwd.on_connected(1, 0.0)
    fwd.pump(0.0)
    assert sent == []  # no central online yet
    fwd.on_central_state("c1", True, 0.0)
    fwd.pump(0.0)
    assert [t.record_seqs() for t in sent] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9],
                                              [10, 11, 12, 13, 14]]
    assert all(t.historical for t in sent)  # stored before this session began
    fwd.on_receipt(_rx(0, 4))
    fwd.pump(0.1)
    assert sent[-1].record_seqs() == [15, 16, 17, 18, 19]
    ob.close()


def test_retry_backoff_doubles_up_to_the_cap(tmp_path: Path) -> None:
    fwd, ob, sent = _setup(tmp_path, 1)
    fwd.on_connected(1, 0.0)
    fwd.on_central_state("c1", True, 0.0)
    now, gaps = 0.0, []
    fwd.pump(now)
    for _ in range(6):
        due = fwd.next_due()
        assert due is not None
        gaps.append(due - now)
        now = due
        fwd.pump(now)
    assert gaps == [2.0, 4.0, 8.0, 16.0, 16.0, 16.0]  # rng fixed at the middle of the jitter
    assert len(sent) == 7 and all(t.record_seqs() == [0] for t in sent)
    fwd.on_receipt(_rx(0, 0))
    assert fwd.inflight == {} and fwd.next_due() is None
    ob.close()


def test_puback_no_matching_subscribers_pauses_then_resumes(tmp_path: Path) -> None:
    fwd, ob, sent = _setup(tmp_path, 10, batch_max_records=2, window=2)
    fwd.on_connected(1, 0.0)
    fwd.on_central_state("c1", True, 0.0)
    fwd.pump(0.0)
    assert len(sent) == 2
    fwd.on_puback(1, 16, 0.0)
    fwd.pump(1.0)
    assert len(sent) == 2 and fwd.paused_until == 2.0
    fwd.on_central_state("c1", False, 1.5)
    fwd.on_central_state("c2", True, 1.6)  # a (new) collector announces: resume at once
    fwd.pump(1.6)
    assert [t.record_seqs() for t in sent[2:]] == [[0, 1], [2, 3]]
    ob.close()


def test_corrupt_record_is_dropped_and_reported_not_retried(tmp_path: Path) -> None:
    fwd, ob, sent = _setup(tmp_path, 4)
    db = sqlite3.connect(ob.path)
    db.execute("UPDATE rec SET body = ? WHERE seq = 1", ('{"users": {"total": -5}}',))
    db.commit()
    db.close()
    fwd.on_connected(1, 0.0)
    fwd.on_central_state("c1", True, 0.0)
    fwd.pump(0.0)
    assert [s for t in sent for s in t.record_seqs()] == [0, 2, 3]
    assert [(d.lo, d.hi, d.reason) for d in ob.drops()] == [(1, 1, "corrupt")]
    fwd.pump(100.0)  # re-sends skip it for good
    assert 1 not in [s for t in sent for s in t.record_seqs()]
    ob.close()


def test_receipt_timer_stays_at_the_minimum_while_receipts_are_quick() -> None:
    t = ReceiptTimer(2.0, 60.0)
    for _ in range(50):
        t.observe(0.05)
    assert t.rto == 2.0  # a healthy collector: re-sends after 2 s, as before
    for _ in range(50):
        t.observe(9.0)
    assert 9.0 < t.rto < 12.0  # a collector 9 s behind: wait for it rather than re-send
    t.observe(200.0)
    assert t.rto == 60.0  # never beyond retry_max_s


def test_receipt_timer_backs_off_once_per_period_until_a_round_trip_is_measured() -> None:
    t = ReceiptTimer(2.0, 60.0)
    t.timed_out(10.0)
    t.timed_out(10.0)  # the rest of the window timing out together: one back-off
    t.timed_out(11.0)
    assert t.rto == 4.0
    t.timed_out(14.0)
    assert t.rto == 8.0
    t.observe(0.1)
    assert t.rto == 2.0


def _replay(tmp_path: Path, adaptive: bool) -> tuple[int, int, set[int]]:
    """An outbox of 400 records against a collector that commits one batch every 1.5 s in
    arrival order (a re-sent copy costs it 0.1 s): (batches sent, re-sent, seqs receipted)."""
    fwd, ob, sent = _setup(tmp_path / str(adaptive), 400, window=8, batch_max_records=5,
                           retry_max_s=60.0)
    if not adaptive:  # the fixed 2 s-then-doubling delay of before
        fwd.timer.observe = fwd.timer.timed_out = lambda *_a: None  # type: ignore[method-assign]
    fwd.on_connected(1, 0.0)
    fwd.on_central_state("c1", True, 0.0)
    queue: list[Tele] = []
    committed: set[int] = set()
    now = busy_until = 0.0
    fwd.pump(now)
    seen = 0
    receipts: list[tuple[float, DeliveryReceipt]] = []
    for _ in range(20_000):  # bounded: event steps
        while seen < len(sent):  # newly published batches join the collector's queue
            queue.append(sent[seen])
            seen += 1
        while queue and busy_until <= now + 1e-9:
            t = queue.pop(0)
            seqs = t.record_seqs()
            copy = set(seqs) <= committed
            busy_until = max(busy_until, now) + (0.1 if copy else 1.5)
            committed |= set(seqs)
            receipts.append((busy_until, DeliveryReceipt(
                site="s1", node="n1", ts_ms=0, session=1, acked=[(min(seqs), max(seqs))])))
        receipts.sort(key=lambda r: r[0])
        while receipts and receipts[0][0] <= now + 1e-9:
            fwd.on_receipt(receipts.pop(0)[1], now)
        fwd.pump(now)
        if not fwd.inflight and not receipts and ob.sendable_upto <= fwd.cursor:
            break
        nxt = [x for x in (fwd.next_due(), receipts[0][0] if receipts else None,
                           busy_until if queue else None) if x is not None and x > now]
        now = min(nxt) if nxt else now + 0.1
    else:
        raise AssertionError("replay did not finish")
    ob.close()
    return len(sent), fwd.resent_batches, committed


def test_a_slow_collector_gets_each_batch_about_once(tmp_path: Path) -> None:
    """After an outage the collector is behind: with a fixed 2 s timer nearly every batch
    goes over the uplink two or three times; the receipt timer learns the collector's pace."""
    sent_fixed, resent_fixed, got_fixed = _replay(tmp_path, adaptive=False)
    sent, resent, got = _replay(tmp_path, adaptive=True)
    assert got == got_fixed == set(range(400))  # everything delivered either way
    assert resent_fixed > 80  # the fixed timer: more re-sends than the 80 batches
    assert resent < resent_fixed / 4, (sent, resent, sent_fixed, resent_fixed)
