"""The on-disk outbox: durable seqs, persistence, receipts, caps and drop reports."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from agent.config import OutboxSection
from agent.transport.outbox import Outbox


def _ob(path: Path, **kw: int) -> Outbox:
    return Outbox(path / "outbox.sqlite", OutboxSection(**kw))


def test_records_survive_restart_and_seq_continues(tmp_path: Path) -> None:
    ob = _ob(tmp_path, flush_every=4)
    seqs = [ob.add("sample", 1000 + i, {"ts_ms": 1000 + i, "i": i}) for i in range(10)]
    ob.close()
    assert seqs == list(range(10))
    ob2 = _ob(tmp_path, flush_every=4)
    recs = ob2.read_after(-1, 100)
    assert [r.seq for r in recs] == seqs
    assert recs[3].body == {"ts_ms": 1003, "i": 3} and recs[3].kind == "sample"
    assert ob2.add("event", 2000, {"kind": "x"}) == 10  # clean stop: no gap, no reuse
    ob2.close()


def test_seq_never_reused_after_power_loss(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import os
        from agent.config import OutboxSection
        from agent.transport.outbox import Outbox
        ob = Outbox({str(tmp_path / 'outbox.sqlite')!r}, OutboxSection(flush_every=5))
        for i in range(7):
            ob.add("sample", i, {{"ts_ms": i}})
        os._exit(0)  # no flush, no close: like pulling the plug
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    ob = _ob(tmp_path, flush_every=5)
    kept = [r.seq for r in ob.read_after(-1, 100)]
    assert kept == [0, 1, 2, 3, 4]  # the two buffered records were lost (documented)
    assert ob.add("sample", 99, {"ts_ms": 99}) >= 7  # seqs 5 and 6 may have been issued
    ob.close()


def test_receipt_deletes_rows_and_hides_them_at_once(tmp_path: Path) -> None:
    ob = _ob(tmp_path, flush_every=1)
    for i in range(6):
        ob.add("sample", i, {"ts_ms": i})
    ob.ack([(0, 2), (4, 4)])
    assert [r.seq for r in ob.read_after(-1, 10)] == [3, 5]  # not sent again
    ob.flush()
    assert ob.count == 2
    ob.close()
    ob2 = _ob(tmp_path, flush_every=1)
    assert [r.seq for r in ob2.read_after(-1, 10)] == [3, 5]
    assert ob2.bounds() == (3, 5)
    ob2.close()


def test_overflow_drops_oldest_and_keeps_one_merged_report(tmp_path: Path) -> None:
    ob = _ob(tmp_path, flush_every=1, max_records=10)
    for i in range(25):
        ob.add("sample", i, {"ts_ms": i})
    assert ob.count == 10
    assert [r.seq for r in ob.read_after(-1, 100)] == list(range(15, 25))
    drops = ob.drops()
    assert [(d.lo, d.hi, d.reason) for d in drops] == [(0, 14, "overflow")]
    ob.close()
    ob2 = _ob(tmp_path, flush_every=1, max_records=10)  # pending until receipted
    assert [(d.lo, d.hi) for d in ob2.drops()] == [(0, 14)]
    ob2.forget_drops([d.id for d in ob2.drops()])
    assert ob2.drops() == []
    ob2.close()


def test_age_cap_drops_old_records_when_wall_clock_is_given(tmp_path: Path) -> None:
    ob = _ob(tmp_path, flush_every=100, max_age_s=60)
    now = 10_000_000
    for i in range(5):
        ob.add("sample", now - 120_000 + i, {"ts_ms": 0})
    for i in range(3):
        ob.add("sample", now - 1000 + i, {"ts_ms": 0})
    ob.flush()  # no wall clock (unsynced): nothing aged out
    assert ob.count == 8
    ob.flush(wall_ms=now)
    assert ob.count == 3
    assert [(d.lo, d.hi, d.reason) for d in ob.drops()] == [(0, 4, "age")]
    ob.close()


def test_backlog_is_read_in_pages(tmp_path: Path) -> None:
    ob = _ob(tmp_path, flush_every=500)
    for i in range(9000):
        ob.add("sample", i, {"ts_ms": i, "pad": "x" * 50})
    ob.flush()
    page = ob.read_after(4000, 200)
    assert [r.seq for r in page] == list(range(4001, 4201))
    assert ob.bounds() == (0, 8999)
    ob.close()


def test_corrupt_database_is_moved_aside_and_seqs_still_never_reused(tmp_path: Path) -> None:
    ob = _ob(tmp_path, flush_every=2)
    issued = [ob.add("sample", i, {"ts_ms": i}) for i in range(5)]
    ob.close()
    for f in tmp_path.glob("outbox.sqlite*"):
        if not f.name.endswith(".seqfloor"):
            f.write_bytes(b"this is not a database" * 100)
    ob2 = _ob(tmp_path, flush_every=2)
    assert ob2.count == 0
    assert ob2.add("sample", 9, {"ts_ms": 9}) > max(issued)
    assert list(tmp_path.glob("outbox.sqlite.corrupt-*"))
    ob2.close()
