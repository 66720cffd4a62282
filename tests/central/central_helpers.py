"""Test helpers: a plain paho MQTT 5 client playing nodes, and a bounded wait."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from central.config import CentralConfig, load_config
from protocol.topics import Topics
from provisioning.localbroker import LocalBroker
from tests.waiting import wait_for  # re-exported to the tests of this folder

_prefixes = itertools.count(1)




def unique_prefix() -> str:
    """A fresh topic prefix so tests on the shared broker never see each other's retained data."""
    return f"kt-test/p{time.monotonic_ns()}x{next(_prefixes)}"


def central_config(broker: LocalBroker, db: str, prefix: str, **extra: Any) -> CentralConfig:
    """A CentralConfig for a collector on the test broker (as the superuser, any prefix)."""
    env = {"KOTANET_MQTT_URL": broker.url("kt-test"), "KOTANET_DB": f"sqlite:///{db}",
           "KOTANET_HTTP": "127.0.0.1:1"}
    cfg = load_config(None, env=env)
    for section in ("mqtt", "storage"):  # a dict of fields to change in that section
        if section in extra:
            extra[section] = getattr(cfg, section).model_copy(update=extra[section])
    return cfg.model_copy(update={"topic_prefix": prefix, "instance": extra.pop("instance", None),
                                  "gap_grace_s": extra.pop("gap_grace_s", 300.0), **extra})


class NodeSim:
    """A plain MQTT 5 client that publishes like agents do and records the rx receipts."""

    def __init__(self, broker: LocalBroker, prefix: str, user: str = "kt-test",
                 site: str = "+") -> None:
        self.topics = Topics(prefix)
        self.receipts: list[dict[str, Any]] = []
        self.watched: list[tuple[str, bytes]] = []
        self.on_receipt: Callable[[dict[str, Any]], None] | None = None
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=f"sim-{time.monotonic_ns()}")
        self.client.username_pw_set(user, broker.passwords[user])
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        wait_for(self.client.is_connected, 5, "node sim connect")
        node = "+" if user == "kt-test" else user  # a node may read only its own rx
        self.client.subscribe(self.topics.node_filter("rx", site, node), qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if not msg.topic.endswith("/rx"):
            with self._lock:
                self.watched.append((msg.topic, bytes(msg.payload)))
            return
        rx = json.loads(msg.payload)
        if self.on_receipt:
            self.on_receipt(rx)
        with self._lock:
            self.receipts.append(rx)

    def watch(self, topic_filter: str) -> None:
        """Also record every message on topic_filter (e.g. central states) in .watched."""
        self.client.subscribe(topic_filter, qos=1)

    def central_online(self, instance: str) -> bool | None:
        """The last retained/live central state of an instance seen: online flag, or None."""
        topic = self.topics.central_state(instance)
        with self._lock:
            states = [p for t, p in self.watched if t == topic]
        return json.loads(states[-1])["online"] if states and states[-1] else None

    def acked(self, node: str) -> set[int]:
        """Every seq of node covered by a receipt so far."""
        with self._lock:
            return {s for r in self.receipts if r["node"] == node
                    for lo, hi in r["acked"] for s in range(lo, hi + 1)}

    def publish_raw(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        """Publish bytes with QoS 1 and wait until the broker has them."""
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def publish(self, site: str, node: str, kind: Any, body: dict[str, Any],
                retain: bool = False) -> None:
        """Publish a JSON message of a kind with the envelope filled in."""
        env = {"schema": f"kotanet.{kind}/1", "site": site, "node": node,
               "ts_ms": int(time.time() * 1000)}
        self.publish_raw(self.topics.node(site, node, kind), json.dumps({**env, **body}),
                         retain)

    def birth(self, site: str, node: str, session: int) -> None:
        """Publish a birth of a session."""
        self.publish(site, node, "birth", {
            "session": session, "boot_id": "b-1", "agent_version": "0.1.0",
            "config_hash": "abc", "role": "park", "clock": {"synced": True, "wall_ms": 1}})

    def state(self, site: str, node: str, online: bool, session: int) -> None:
        """Publish a retained presence state (what the agent and its Will do)."""
        self.publish(site, node, "state", {"online": online, "session": session}, retain=True)

    def tele(self, site: str, node: str, seqs: list[int], session: int = 1,
             dropped: list[list[Any]] | None = None, events: int = 0,
             retain: bool = False) -> None:
        """Publish a tele batch: samples for the seqs (the last `events` seqs as events)."""
        now = int(time.time() * 1000)
        n_samples = len(seqs) - events
        samples = [{"seq": s, "ts_ms": now - 1000 + i, "users": {"total": 3},
                    "uplinks": [{"name": "wan", "active": True, "rtt_ms": 12.5,
                                 "loss_pct": 0.0}]} for i, s in enumerate(seqs[:n_samples])]
        evs = [{"seq": s, "ts_ms": now, "kind": "failover", "message": "to lte"}
               for s in seqs[n_samples:]]
        self.publish(site, node, "tele", {"session": session, "seq": min(seqs),
                                          "samples": samples, "events": evs,
                                          "dropped": dropped or []}, retain)

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()
