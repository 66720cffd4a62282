"""Bad input is counted by reason, stores nothing, is acked, and good traffic keeps flowing."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable

import pytest
from central_helpers import NodeSim, wait_for

from central.collector import Collector
from central.config import RegistryNode

pytestmark = pytest.mark.broker


def _seqs(col: Collector) -> list[tuple[str, int]]:
    with sqlite3.connect(col.storage.path) as c:  # type: ignore[attr-defined]
        return list(c.execute("SELECT node, seq FROM samples UNION ALL "
                              "SELECT node, seq FROM events ORDER BY 1, 2"))


def _tele(site: str, node: str, seq: int, **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "schema": "kotanet.tele/1", "site": site, "node": node, "ts_ms": int(time.time() * 1000),
        "session": 1, "seq": seq, "samples": [{"seq": seq, "ts_ms": 1}]}
    return {**body, **over}


def test_each_bad_input_counted_nothing_stored_good_traffic_kept(
        start_collector: Callable[..., Collector], sim: NodeSim) -> None:
    # receive_max=2: had the collector not acked the bad messages, the broker would stop
    # delivering after two of them and the good batches below would never arrive.
    col = start_collector(max_payload_bytes=4096,
                          mqtt={"receive_max": 2})
    topic = sim.topics.node("s1", "n1", "tele")
    bad: dict[str, bytes] = {
        "malformed": b"{not json",
        "wrong_schema": json.dumps(_tele("s1", "n1", 101, schema="kotanet.birth/1")).encode(),
        "wrong_version": json.dumps(_tele("s1", "n1", 102, schema="kotanet.tele/2")).encode(),
        "too_large": json.dumps(_tele("s1", "n1", 103, pad="x" * 5000)).encode(),
        "wrong_topic": json.dumps(_tele("s1", "other-node", 104)).encode(),
        "invalid": json.dumps(_tele("s1", "n1", 105, samples=[
            {"seq": 105, "ts_ms": 1, "system": {"cpu_pct": 250}}])).encode(),
    }
    good = 1
    for reason, payload in bad.items():
        sim.tele("s1", "n1", [good])
        sim.publish_raw(topic, payload)
        sim.publish_raw(topic, payload)  # twice: still counted, still not stored
        good += 1
        assert reason
    sim.tele("s1", "n1", [good])
    wait_for(lambda: sim.acked("n1") == set(range(1, good + 1)), what="all good receipts")
    wait_for(lambda: sum(col.stats.snapshot()["rejects"].values()) == 2 * len(bad),
             what="all rejects counted")
    assert col.stats.snapshot()["rejects"] == {reason: 2 for reason in bad}
    assert _seqs(col) == [("n1", s) for s in range(1, good + 1)]
    assert [r["acked"] for r in sim.receipts] == [[[s, s]] for s in range(1, good + 1)]


def test_unregistered_node_stored_and_flagged(start_collector: Callable[..., Collector],
                                              sim: NodeSim) -> None:
    col = start_collector(nodes=[RegistryNode(node="known", site="s1", role="office")])
    sim.tele("s1", "known", [1])
    sim.tele("s1", "stranger", [1])
    wait_for(lambda: sim.acked("known") and sim.acked("stranger"), what="both receipted")
    flags = {n["node"]: n["unregistered"] for n in col.storage.list_nodes()}
    assert flags == {"known": 0, "stranger": 1}
    assert col.stats.snapshot()["rejects"] == {}


def test_strict_registry_rejects_unknown_and_wrong_site(
        start_collector: Callable[..., Collector], sim: NodeSim) -> None:
    col = start_collector(strict_registry=True,
                          nodes=[RegistryNode(node="known", site="s1", role="park")])
    sim.tele("s1", "stranger", [1])
    sim.tele("s9", "known", [5])  # right node, wrong site
    sim.tele("s1", "known", [2])
    wait_for(lambda: sim.acked("known") == {2}, what="registered node receipted")
    wait_for(lambda: sum(col.stats.snapshot()["rejects"].values()) == 2, what="rejects")
    assert col.stats.snapshot()["rejects"] == {"unregistered": 1, "site_mismatch": 1}
    assert _seqs(col) == [("known", 2)]
    assert sim.acked("stranger") == set()
    assert {n["node"] for n in col.storage.list_nodes()} == {"known"}


def test_full_queue_is_acked_counted_and_recovered_by_resend(
        start_collector: Callable[..., Collector], sim: NodeSim) -> None:
    gate, entered = threading.Event(), threading.Event()

    def stall(_inc: object) -> None:
        entered.set()
        gate.wait(timeout=30)

    # The listener runs in the writer thread: holding it stalls the writer so the queue fills.
    # The broker delivers at most max_inflight (20) unacked messages, so stall the writer on
    # the first message alone before sending the rest: then 19 arrive for a queue of 10 (and
    # two in the decode stage, one message per batch). A full queue holds the broker back for
    # half a keepalive (1 s here) before it refuses.
    col = start_collector(storage={"queue_max": 10, "batch_max": 1}, mqtt={"keepalive_s": 2},
                          listeners=[stall])
    batches = [[i] for i in range(1, 41)]
    try:
        sim.tele("s1", "n1", batches[0])
        wait_for(entered.is_set, what="writer stalled on the first batch")
        for seqs in batches[1:]:
            sim.tele("s1", "n1", seqs)
        wait_for(lambda: col.stats.snapshot()["rejects"].get("queue_full", 0) > 0,
                 what="queue overflow")
    finally:
        gate.set()
    for _ in range(5):  # the agent's rule: re-send what has no receipt
        for seqs in batches:
            if not set(seqs) <= sim.acked("n1"):
                sim.tele("s1", "n1", seqs)
        try:
            wait_for(lambda: sim.acked("n1") == set(range(1, 41)), 5, "every receipt")
            break
        except AssertionError:
            continue
    assert _seqs(col) == [("n1", s) for s in range(1, 41)]
    assert set(col.stats.snapshot()["rejects"]) == {"queue_full"}


def test_retained_birth_tele_ack_are_replays_counted_never_stored(
        start_collector: Callable[..., Collector], sim: NodeSim) -> None:
    """The broker ACL cannot forbid retain on a node's own birth/tele/ack, and mosquitto
    replays a retained message to a new (even shared) subscription: a collector starting later
    counts each as ``retained`` and stores nothing of it; live traffic of that node is kept."""
    sim.publish_raw(sim.topics.node("s1", "n1", "tele"), json.dumps(_tele("s1", "n1", 7)),
                    retain=True)
    sim.publish_raw(sim.topics.node("s1", "n1", "birth"), b"\x00garbage", retain=True)
    sim.publish_raw(sim.topics.node("s1", "n1", "ack"), b"{}", retain=True)
    try:
        col = start_collector()
        wait_for(lambda: col.stats.snapshot()["rejects"].get("retained") == 3,
                 what="the three retained replays counted")
        sim.tele("s1", "n1", [1], retain=True)  # live: subscribers get it without the flag
        wait_for(lambda: sim.acked("n1") == {1}, what="the live batch receipted")
        assert _seqs(col) == [("n1", 1)]
        assert col.stats.snapshot()["rejects"] == {"retained": 3}
    finally:
        for kind in ("tele", "birth", "ack"):
            sim.publish_raw(sim.topics.node("s1", "n1", kind), b"", retain=True)
