"""Store-and-forward against a real mosquitto, with a paho client playing central."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from agenttest_central import TOPICS, Central, wait_for
from paho.mqtt.enums import CallbackAPIVersion

from agent.runtime import Agent
from protocol.codec import encode
from protocol.messages import CentralState
from provisioning.localbroker import LocalBroker

pytestmark = pytest.mark.broker

MakeAgent = Callable[..., Agent]


def test_receipts_delete_rows_and_every_seq_arrives_once_in_order(
        central: Central, make_agent: MakeAgent, node_id: str) -> None:
    central.auto_receipt = True
    central.announce()
    agent = make_agent(node_id)
    agent.start()
    wait_for(lambda: len(set(central.seqs(node_id))) >= 30, what="30 records delivered")
    agent.stop()
    seqs = sorted(set(central.seqs(node_id)))
    assert seqs == list(range(len(seqs)))  # no gaps, no reuse
    assert agent.outbox is not None and agent.outbox.count <= agent.cfg.outbox.window * 20
    first = central.of("tele", node_id)[0]
    assert first.samples[0].uplinks[0]["name"] == "wan" and first.samples[0].users.associated == 3


def test_unreceipted_batches_are_resent_as_historical(
        central: Central, make_agent: MakeAgent, node_id: str) -> None:
    central.announce()
    agent = make_agent(node_id)
    agent.start()
    wait_for(lambda: any(t.historical for t in central.of("tele", node_id)), what="a re-send")
    teles = central.of("tele", node_id)
    first = teles[0]
    resent = [t for t in teles if t.historical and t.seq == first.seq]
    assert resent and resent[0].record_seqs() == first.record_seqs()
    central.receipt(node_id, first.session, [(0, 10**6)])
    assert agent.forwarder is not None
    wait_for(lambda: not agent.forwarder.inflight or min(agent.forwarder.inflight) > first.seq,
             what="receipted batch leaves the window")


def test_no_central_online_pauses_delivery_but_sampling_goes_on(
        central: Central, make_agent: MakeAgent, node_id: str) -> None:
    agent = make_agent(node_id)
    agent.start()
    wait_for(lambda: central.of("birth", node_id), what="birth")
    wait_for(lambda: agent.samples_stored >= 20, what="20 samples stored")
    assert agent.forwarder is not None
    assert agent.forwarder.centrals == set(), "another test left a central online (retained)"
    assert central.of("tele", node_id) == []  # nobody announced: nothing sent
    central.auto_receipt = True
    central.announce()
    wait_for(lambda: central.of("tele", node_id), what="delivery after central online")
    assert central.of("tele", node_id)[0].seq == 0  # oldest first
    wait_for(lambda: set(range(20)) <= set(central.seqs(node_id)), what="backlog delivered")


def test_no_matching_subscribers_pauses_until_a_collector_subscribes(
        broker: LocalBroker, make_agent: MakeAgent, node_id: str) -> None:
    announcer = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    announcer.username_pw_set("kt-test", broker.passwords["kt-test"])
    announcer.connect(broker.host, broker.port)
    announcer.loop_start()
    topic = TOPICS.central_state("ghost")
    try:
        state = CentralState(instance="ghost", online=True, epoch=1, ts_ms=1)
        announcer.publish(topic, encode(state), qos=1, retain=True).wait_for_publish(5)
        agent = make_agent(node_id)
        agent.start()
        fwd = agent.forwarder
        assert fwd is not None
        wait_for(lambda: fwd.paused_until > 0, what="PUBACK 16 pauses delivery")
        assert fwd.inflight  # nothing was lost: the batch waits to be sent again
        central = Central(broker, instance="late", auto_receipt=True)
        try:
            wait_for(lambda: 0 in central.seqs(node_id), timeout=15, what="delivery resumes")
        finally:
            central.close()
    finally:
        announcer.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        announcer.disconnect()
        announcer.loop_stop()


def test_backlog_survives_restart_without_seq_reuse(
        central: Central, make_agent: MakeAgent, node_id: str, tmp_path: Path) -> None:
    first = make_agent(node_id, tmp_path / "st")
    first.start()
    wait_for(lambda: first.samples_stored >= 15, what="15 samples stored offline")
    first.stop()
    stored = first.samples_stored
    central.auto_receipt = True
    central.announce()
    second = make_agent(node_id, tmp_path / "st")
    second.start()
    wait_for(lambda: set(range(stored)) <= set(central.seqs(node_id)), what="old backlog")
    wait_for(lambda: any(s >= stored for s in central.seqs(node_id)), what="new records")
    second.stop()
    teles = central.of("tele", node_id)
    assert teles[0].historical and teles[0].session == 2
    seqs = sorted(set(central.seqs(node_id)))
    assert seqs == list(range(len(seqs)))  # one counter across both runs


def test_overflow_is_reported_as_dropped_range(
        central: Central, make_agent: MakeAgent, node_id: str) -> None:
    agent = make_agent(node_id, outbox={"max_records": 10, "flush_every": 1})
    agent.start()
    wait_for(lambda: agent.samples_stored >= 30, what="30 samples with room for 10")
    central.auto_receipt = True
    central.announce()
    dropped = wait_for(lambda: [d for t in central.of("tele", node_id) for d in t.dropped],
                       what="a dropped report")
    lo, hi, reason = dropped[0]
    assert (lo, reason) == (0, "overflow") and hi >= 19
    received = set(central.seqs(node_id))
    assert not received & set(range(lo, hi + 1))  # dropped seqs were never sent
    db = sqlite3.connect(agent.state_dir / "outbox.sqlite")  # a reader of its own
    try:
        wait_for(lambda: db.execute("SELECT COUNT(*) FROM drops").fetchone()[0] == 0,
                 what="drop report receipted and forgotten")
    finally:
        db.close()
