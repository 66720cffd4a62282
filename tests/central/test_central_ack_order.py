"""MQTT 5 wants PUBACKs in arrival order: also for messages refused because the queue is full."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from central_helpers import NodeSim, wait_for

from central.collector import Collector

pytestmark = pytest.mark.broker


def test_overflowed_messages_are_acked_after_the_earlier_queued_ones(
        start_collector: Callable[..., Collector], sim: NodeSim,
        monkeypatch: pytest.MonkeyPatch) -> None:
    gate, entered = threading.Event(), threading.Event()

    def stall(_inc: object) -> None:
        entered.set()
        gate.wait(timeout=30)

    # A full queue first holds the broker back for half a keepalive (1 s here), then refuses;
    # one message per batch: the decode stage holds at most two beyond the queue.
    col = start_collector(storage={"queue_max": 5, "batch_max": 1}, mqtt={"keepalive_s": 2},
                          listeners=[stall])
    arrived: list[int] = []
    acked: list[int] = []
    lock = threading.Lock()
    on_message, ack = col.client.on_message, col.client.ack
    assert on_message is not None

    def spy_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with lock:
            arrived.append(msg.mid)
        on_message(client, userdata, msg)

    def spy_ack(mid: int, qos: int) -> Any:
        with lock:
            acked.append(mid)
        return ack(mid, qos)

    col.client.on_message = spy_message
    monkeypatch.setattr(col.client, "ack", spy_ack)
    total = 16
    try:
        sim.tele("s1", "n1", [1])
        wait_for(entered.is_set, what="writer stalled on the first batch")
        for seq in range(2, total + 1):
            sim.tele("s1", "n1", [seq])
        wait_for(lambda: col.stats.snapshot()["rejects"].get("queue_full", 0) >= 3,
                 what="queue overflow")
        with lock:  # the overflowed ones wait for the stalled writer's earlier messages
            assert acked == arrived[:1], (acked, arrived)
        assert col._acks.held() >= 3
    finally:
        gate.set()
    wait_for(lambda: len(arrived) == total and len(acked) == total, 20, "every message acked")
    with lock:
        assert acked == arrived  # one PUBACK each, in the order the broker sent them
    assert col._acks.held() == 0
