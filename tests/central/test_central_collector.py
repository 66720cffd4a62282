"""Collector against the real broker: presence, storage, receipts after commit, idempotence."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from central_helpers import NodeSim, wait_for

from central.collector import Collector, seq_ranges
from central.storage import Incoming
from provisioning.localbroker import LocalBroker

pytestmark = pytest.mark.broker


def _node(col: Collector, node: str) -> dict[str, Any] | None:
    return next((n for n in col.storage.list_nodes() if n["node"] == node), None)


def _stored_seqs(db: str, node: str) -> list[int]:
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT seq FROM samples WHERE node = ? UNION ALL "
                         "SELECT seq FROM events WHERE node = ? ORDER BY 1", (node, node))
        return [r[0] for r in rows]


def test_seq_ranges_compresses() -> None:
    assert seq_ranges([5, 3, 4, 9, 9, 10, 12]) == [(3, 5), (9, 10), (12, 12)]
    assert seq_ranges([]) == []


def test_birth_lists_node_online(start_collector: Callable[..., Collector],
                                 sim: NodeSim) -> None:
    col = start_collector()
    sim.birth("taman-kota", "tk-01", session=4)
    row = wait_for(lambda: _node(col, "tk-01"), what="node listed")
    wait_for(lambda: (_node(col, "tk-01") or {}).get("online"), what="node online")
    row = _node(col, "tk-01")
    assert row is not None and row["session"] == 4 and row["site"] == "taman-kota"
    assert row["unregistered"] == 1
    detail = col.storage.node_detail("tk-01", 0, 0)
    assert detail is not None and detail["birth"]["agent_version"] == "0.1.0"


def test_tele_stored_and_receipted_after_commit(start_collector: Callable[..., Collector],
                                                sim: NodeSim) -> None:
    col = start_collector()
    db = col.storage.path  # type: ignore[attr-defined]
    seen_at_receipt: list[list[int]] = []
    sim.on_receipt = lambda rx: seen_at_receipt.append(_stored_seqs(db, rx["node"]))
    sim.tele("s1", "n1", [10, 11, 12, 13], session=2, events=1)
    wait_for(lambda: sim.acked("n1") == {10, 11, 12, 13}, what="receipt")
    rx = sim.receipts[0]
    assert rx["acked"] == [[10, 13]] and rx["session"] == 2 and rx["schema"] == "kotanet.rx/1"
    assert seen_at_receipt[0] == [10, 11, 12, 13]  # committed before the receipt was sent
    samples = col.storage.samples("n1", None, None, 100)
    assert [s["seq"] for s in samples] == [10, 11, 12]
    assert samples[0]["active_uplink"] == "wan" and samples[0]["users_total"] == 3
    assert [e["kind"] for e in col.storage.events("n1", None, None, 10)] == ["failover"]


def test_same_batch_twice_stored_once(start_collector: Callable[..., Collector],
                                      sim: NodeSim) -> None:
    col = start_collector()
    db = col.storage.path  # type: ignore[attr-defined]
    sim.tele("s1", "n2", [1, 2, 3])
    sim.tele("s1", "n2", [1, 2, 3])
    sim.tele("s1", "n2", [4])
    wait_for(lambda: len(sim.receipts) == 3, what="three receipts")
    assert _stored_seqs(db, "n2") == [1, 2, 3, 4]
    assert col.stats.snapshot()["messages"]["tele"] == 3


def test_late_will_of_older_session_is_ignored(start_collector: Callable[..., Collector],
                                               sim: NodeSim) -> None:
    col = start_collector()
    sim.state("s1", "n3", online=True, session=7)
    sim.birth("s1", "n3", session=7)
    wait_for(lambda: (_node(col, "n3") or {}).get("online"), what="online")
    sim.state("s1", "n3", online=False, session=6)  # the old connection's Will, late
    sim.tele("s1", "n3", [1])  # a marker: processed after the Will (arrival order)
    wait_for(lambda: sim.acked("n3"), what="marker receipt")
    wait_for(lambda: col.stats.snapshot()["messages"].get("state") == 2, what="will processed")
    row = _node(col, "n3")
    assert row is not None and row["online"] == 1 and row["session"] == 7


def test_clean_offline_marks_offline_at_once(start_collector: Callable[..., Collector],
                                             sim: NodeSim) -> None:
    col = start_collector()
    sim.birth("s1", "n4", session=3)
    wait_for(lambda: (_node(col, "n4") or {}).get("online"), what="online")
    sim.state("s1", "n4", online=False, session=3)
    row = wait_for(lambda: (r := _node(col, "n4")) and r["online"] == 0 and r, what="offline")
    assert row["offline_since_ms"] is not None
    sim.birth("s1", "n4", session=3)  # a stale birth of the ended session does not revive it
    sim.birth("s1", "n4", session=4)
    wait_for(lambda: (_node(col, "n4") or {}).get("session") == 4, what="new session")
    row = _node(col, "n4")
    assert row is not None and row["online"] == 1 and row["offline_since_ms"] is None


def test_retained_state_reaches_a_late_collector(start_collector: Callable[..., Collector],
                                                 sim: NodeSim) -> None:
    sim.state("s1", "n5", online=True, session=2)
    col = start_collector()
    row = wait_for(lambda: (r := _node(col, "n5")) and r["online"] == 1 and r, what="retained")
    assert row["session"] == 2


def test_gap_found_after_grace_and_drops_are_not_gaps(
        start_collector: Callable[..., Collector], sim: NodeSim) -> None:
    col = start_collector(gap_grace_s=0)
    sim.tele("s1", "n6", [1, 2])
    sim.tele("s1", "n6", [6, 7], dropped=[[3, 4, "overflow"]])  # 5 is lost in transit
    sim.tele("s1", "n6", [9])
    wait_for(lambda: len(sim.receipts) == 3, what="receipts")
    gaps = [(g.from_seq, g.to_seq) for g in col.storage.gaps(2**62, 0, "n6")]
    assert gaps == [(5, 5), (8, 8)]
    assert col.storage.gaps(0, 0, "n6") == []  # inside the grace period: not yet a gap
    detail = col.storage.node_detail("n6", 2**62, 0)
    assert detail is not None
    assert detail["gaps"]["missing"] == 2 and detail["drops"]["dropped"] == 2


def test_collector_resumes_after_broker_restart(start_collector: Callable[..., Collector],
                                                sim: NodeSim, broker: LocalBroker,
                                                prefix: str) -> None:
    col = start_collector()
    sim.tele("s1", "n7", [1])
    wait_for(lambda: sim.acked("n7") == {1}, what="receipt before restart")
    broker.restart()
    wait_for(lambda: col.stats.snapshot()["connects"] == 2 and col.ready.is_set(), 20,
             "collector reconnected and resubscribed")
    again = NodeSim(broker, prefix)
    try:
        again.tele("s1", "n7", [2, 3])
        wait_for(lambda: again.acked("n7") == {2, 3}, what="receipt after restart")
    finally:
        again.close()
    assert [s["seq"] for s in col.storage.samples("n7", None, None, 10)] == [1, 2, 3]


def test_listeners_see_committed_messages_and_cannot_break_delivery(
        start_collector: Callable[..., Collector], sim: NodeSim) -> None:
    seen: list[tuple[str, str]] = []

    def bad(_inc: Incoming) -> None:
        raise RuntimeError("listener bug")

    def good(inc: Incoming) -> None:
        if _node(col, inc.node) is not None:  # already committed when the listener runs
            seen.append((inc.msg.KIND, inc.node))

    col = start_collector(listeners=[bad, good])
    sim.birth("s1", "n8", session=1)
    sim.tele("s1", "n8", [1])
    wait_for(lambda: sim.acked("n8") == {1}, what="receipt despite a failing listener")
    wait_for(lambda: len(seen) == 2, what="listener calls")
    assert seen == [("birth", "n8"), ("tele", "n8")]


def test_a_resent_batch_is_receipted_again_and_written_once(
        start_collector: Callable[..., Collector], sim: NodeSim) -> None:
    col = start_collector()
    db = col.storage.path  # type: ignore[attr-defined]
    written: list[int] = []
    write = col.storage.write

    def spy(batch: Any) -> None:
        written.append(len(batch))
        write(batch)

    col.storage.write = spy  # type: ignore[method-assign]
    body = {"schema": "kotanet.tele/1", "site": "s1", "node": "n7", "ts_ms": 1_700_000_000_000,
            "session": 3, "seq": 5, "samples": [
                {"seq": 5, "ts_ms": 1_700_000_000_000, "users": {"total": 2}},
                {"seq": 6, "ts_ms": 1_700_000_010_000, "users": {"total": 4}}]}
    topic = sim.topics.node("s1", "n7", "tele")
    sim.publish_raw(topic, json.dumps(body).encode())
    wait_for(lambda: len(sim.receipts) == 1, what="first receipt")
    for ts in (1_700_000_002_000, 1_700_000_006_000):  # the agent re-sends: receipt late;
        resent = {**body, "ts_ms": ts, "historical": True}  # a new ts_ms, so other bytes
        sim.publish_raw(topic, json.dumps(resent, separators=(",", ":")).encode())
    wait_for(lambda: len(sim.receipts) == 3, what="a receipt for every copy")
    assert all(r["acked"] == [[5, 6]] and r["session"] == 3 for r in sim.receipts)
    assert _stored_seqs(db, "n7") == [5, 6]
    assert sum(written) == 1  # the copies were answered from memory, not decoded again
    assert col.stats.snapshot()["messages"]["tele"] == 3
    assert col.storage.rollup("n7", 0, 2**62, 300_000)[0]["n"] == 2  # rolled up once


def test_a_batch_whose_head_lies_is_not_remembered_for_the_honest_one(
        start_collector: Callable[..., Collector], sim: NodeSim) -> None:
    """The dedupe key is read from the payload's head; a node whose head says seq 5 while
    its body (a later duplicate key, which the decoder takes) says seq 9 gets its records 9
    stored, and its own honest batch 5 is still decoded and stored, not answered from memory
    with the receipt of 9."""
    col = start_collector()
    db = col.storage.path  # type: ignore[attr-defined]
    topic = sim.topics.node("s1", "n9", "tele")
    head = (b'{"schema":"kotanet.tele/1","site":"s1","node":"n9","ts_ms":1700000000000,'
            b'"session":3,"seq":5,')
    lying = head + (b'"seq":9,"samples":[{"seq":9,"ts_ms":1700000000000},'
                    b'{"seq":10,"ts_ms":1700000010000}]}')
    sim.publish_raw(topic, lying)
    wait_for(lambda: len(sim.receipts) == 1, what="receipt of the lying batch")
    assert sim.receipts[0]["acked"] == [[9, 10]]
    honest = head + b'"samples":[{"seq":5,"ts_ms":1699999990000}]}'
    sim.publish_raw(topic, honest)
    wait_for(lambda: len(sim.receipts) == 2, what="receipt of the honest batch")
    assert sim.receipts[1]["acked"] == [[5, 5]]
    assert _stored_seqs(db, "n9") == [5, 9, 10]


def test_full_queue_holds_the_broker_back_and_refuses_nothing(
        start_collector: Callable[..., Collector], sim: NodeSim) -> None:
    gate, entered = threading.Event(), threading.Event()

    def stall(_inc: object) -> None:
        entered.set()
        gate.wait(timeout=30)

    col = start_collector(storage={"queue_max": 5, "batch_max": 1}, listeners=[stall])
    try:
        sim.tele("s1", "n1", [1])
        wait_for(entered.is_set, what="writer stalled on the first batch")
        for seq in range(2, 19):
            sim.tele("s1", "n1", [seq])
        wait_for(lambda: col.stats.snapshot()["queue_depth"] >= 5, what="a full queue")
        time.sleep(1.0)  # the network thread waits for room: nothing is refused meanwhile
        assert col.stats.snapshot()["rejects"] == {}
    finally:
        gate.set()
    wait_for(lambda: sim.acked("n1") == set(range(1, 19)), 20, "every receipt, no re-send")
    assert col.stats.snapshot()["rejects"] == {}
