"""SQLite storage without a broker: idempotence, presence rules, gaps versus drops."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.storage import Incoming, subtract_ranges
from central.storage.sqlite import SqliteStorage
from protocol.messages import Birth, NodeState, Tele

ENV = {"site": "s1", "node": "n1", "ts_ms": 1}


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteStorage]:
    """A fresh SQLite storage."""
    s = SqliteStorage(tmp_path / "c.db")
    yield s
    s.close()


def _tele(seqs: list[int], dropped: list[Any] | None = None, t: int = 100) -> Incoming:
    tele = Tele.model_validate({**ENV, "session": 1, "seq": min(seqs), "dropped": dropped or [],
                                "samples": [{"seq": s, "ts_ms": s} for s in seqs]})
    return Incoming("s1", "n1", tele, t)


def _state(online: bool, session: int, t: int) -> Incoming:
    return Incoming("s1", "n1", NodeState.model_validate(
        {**ENV, "online": online, "session": session}), t)


def _birth(session: int, t: int) -> Incoming:
    return Incoming("s1", "n1", Birth.model_validate(
        {**ENV, "session": session, "boot_id": "b", "agent_version": "1", "config_hash": "h",
         "role": "office", "clock": {"synced": False, "wall_ms": 0}}), t)


def _presence(db: SqliteStorage) -> tuple[int, int, int | None]:
    row = db.list_nodes()[0]
    return row["online"], row["session"], row["offline_since_ms"]


def test_subtract_ranges() -> None:
    assert subtract_ranges(1, 10, [(3, 4), (8, 20)]) == [(1, 2), (5, 7)]
    assert subtract_ranges(5, 6, [(1, 9)]) == []
    assert subtract_ranges(5, 6, []) == [(5, 6)]


def test_writes_are_idempotent_on_node_and_seq(db: SqliteStorage) -> None:
    db.write([_tele([1, 2, 3]), _tele([2, 3, 4])])
    db.write([_tele([1])])
    assert [s["seq"] for s in db.samples("n1", None, None, 100)] == [1, 2, 3, 4]
    assert db.totals()["samples"] == 4


def test_presence_is_guarded_by_session(db: SqliteStorage) -> None:
    db.write([_birth(5, 10)])
    assert _presence(db) == (1, 5, None)
    db.write([_state(False, 4, 20)])  # late Will of the previous connection
    assert _presence(db) == (1, 5, None)
    db.write([_state(False, 5, 30)])  # this session ended
    assert _presence(db) == (0, 5, 30)
    db.write([_birth(5, 40), _state(True, 5, 41)])  # stale messages of the ended session
    assert _presence(db) == (0, 5, 30)
    db.write([_state(True, 6, 50)])
    assert _presence(db) == (1, 6, None)
    assert db.list_nodes()[0]["role"] == "office"  # unregistered: role from the birth


def test_gaps_after_grace_minus_drops(db: SqliteStorage) -> None:
    db.write([_tele([1, 2], t=100), _tele([10], dropped=[[4, 5, "overflow"]], t=200),
              _tele([20], t=900)])
    found = [(g.from_seq, g.to_seq) for g in db.gaps(now_ms=1000, grace_ms=500)]
    assert found == [(3, 3), (6, 9)]  # 11..19 became visible too recently
    found = [(g.from_seq, g.to_seq) for g in db.gaps(now_ms=2000, grace_ms=500)]
    assert found == [(3, 3), (6, 9), (11, 19)]
    db.write([_tele([3, 6, 7, 8, 9], t=2000)])  # the re-send arrives: those gaps close
    assert [(g.from_seq, g.to_seq) for g in db.gaps(5000, 500)] == [(11, 19)]


def test_rejects_counted_each_time_but_logged_once_per_reason_and_node(
        caplog: pytest.LogCaptureFixture) -> None:
    from central.collector.stats import Stats

    stats = Stats(log_interval_s=3600)
    with caplog.at_level("WARNING", logger="central.collector.stats"):
        for _ in range(5):
            stats.reject("malformed", "n1", "not UTF-8 JSON")
        stats.reject("malformed", "n2", "not UTF-8 JSON")
        stats.reject("invalid", "n1", "bad field")
    assert stats.snapshot()["rejects"] == {"malformed": 6, "invalid": 1}
    assert len(caplog.records) == 3


def test_command_acks_stored_once(db: SqliteStorage) -> None:
    import sqlite3

    from protocol.messages import CommandAck

    ack = CommandAck.model_validate({**ENV, "cmd_id": "c-1", "stage": "applied",
                                     "applied_version": 4})
    db.write([Incoming("s1", "n1", ack, 10), Incoming("s1", "n1", ack, 11)])
    with sqlite3.connect(db.path) as c:
        rows = list(c.execute("SELECT cmd_id, stage, applied_version FROM cmd_acks"))
    assert rows == [("c-1", "applied", 4)]
