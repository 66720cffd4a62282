"""A plain paho MQTT 5 client playing central in agent tests (the real protocol)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.config import AgentConfig, parse_config
from protocol.codec import decode, encode
from protocol.messages import CentralState, Command, DeliveryReceipt, Tele
from protocol.topics import Topics
from provisioning.localbroker import LocalBroker
from tests.cmdkeys import SIGNER, agent_commands
from tests.waiting import wait_for as wait_for  # re-exported to the tests of this folder

TOPICS = Topics()
SITE = "taman-kota"


def agent_config(broker: LocalBroker, node: str, state_dir: Path, **over: Any) -> AgentConfig:
    """A config for node against the test broker (user added), tuned for fast tests."""
    broker.add_user(node, f"pw-{node}") if node not in broker.passwords else None
    data: dict[str, Any] = {
        "node": {"id": node, "site": SITE, "role": "park"},
        "mqtt": {"url": f"mqtt://{broker.host}:{broker.port}", "password": f"pw-{node}",
                 "keepalive_s": 2, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        "agent": {"state_dir": str(state_dir), "sample_interval_s": 0.05, "probe_timeout_s": 1.0},
        "outbox": {"flush_every": 1, "retry_min_s": 0.3, "retry_max_s": 1.0, "window": 4,
                   "batch_max_records": 20},
        "commands": agent_commands(),
    }
    for section, values in over.items():
        data.setdefault(section, {}).update(values)
    return parse_config(data)




class Central:
    """Collects everything nodes publish; can announce itself, receipt and command."""

    def __init__(self, broker: LocalBroker, instance: str = "c1", auto_receipt: bool = False,
                 user: str = "kt-test") -> None:
        self.instance = instance
        self.auto_receipt = auto_receipt
        self.lock = threading.Lock()
        self.msgs: list[tuple[str, Any, bool]] = []  # (kind, model, retained)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=f"test-central-{instance}-{time.monotonic_ns()}")
        self.client.username_pw_set(user, broker.passwords[user])
        self.client.on_message = self._on_message
        self.subscribed = threading.Event()
        self.announced: int | None = None
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.reconnect_delay_set(0.2, 1)  # type: ignore[arg-type]
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "central test client: no SUBACK"

    def _on_connect(self, c: mqtt.Client, ud: Any, flags: Any, reason: Any, props: Any) -> None:
        self.subscribed.clear()
        if self.announced is not None:  # like a real central: re-announce after reconnect
            st = CentralState(instance=self.instance, online=True, epoch=self.announced,
                              ts_ms=int(time.time() * 1000))
            c.publish(TOPICS.central_state(self.instance), encode(st), qos=1, retain=True)
        c.subscribe([(TOPICS.node_filter(k), 1) for k in ("birth", "tele", "state", "ack")])

    def _on_message(self, c: mqtt.Client, ud: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            parsed, model = decode(TOPICS, msg.topic, bytes(msg.payload))
        except Exception:
            return
        kind = getattr(parsed, "kind", "central")
        with self.lock:
            self.msgs.append((kind, model, bool(msg.retain)))
        if kind == "tele" and self.auto_receipt:
            assert isinstance(model, Tele)
            self.receipt(model.node, model.session, [(s, s) for s in model.record_seqs()])

    def of(self, kind: str, node: str | None = None) -> list[Any]:
        """Models received of one kind (optionally from one node)."""
        with self.lock:
            return [m for k, m, _ in self.msgs if k == kind and (node is None or m.node == node)]

    def seqs(self, node: str) -> list[int]:
        """Every record seq received from node (duplicates kept)."""
        return [s for t in self.of("tele", node) for s in t.record_seqs()]

    def announce(self, online: bool = True, epoch: int = 1) -> None:
        """Publish this instance's retained central state."""
        self.announced = epoch if online else None
        st = CentralState(instance=self.instance, online=online, epoch=epoch,
                          ts_ms=int(time.time() * 1000))
        self.client.publish(TOPICS.central_state(self.instance), encode(st), qos=1,
                            retain=True).wait_for_publish(5)

    def clear_retained(self) -> None:
        """Remove this instance's retained state."""
        self.client.publish(TOPICS.central_state(self.instance), b"", qos=1,
                            retain=True).wait_for_publish(5)

    def receipt(self, node: str, session: int, ranges: list[tuple[int, int]]) -> None:
        """Send an rx receipt to node."""
        rx = DeliveryReceipt.model_validate({"site": SITE, "node": node, "session": session,
                                             "ts_ms": int(time.time() * 1000), "acked": ranges})
        self.client.publish(TOPICS.node(SITE, node, "rx"), encode(rx), qos=1)

    def command(self, node: str, kind: str, version: int, epoch: int = 1, ttl_s: float = 30,
                params: dict[str, Any] | None = None, cmd_id: str | None = None) -> str:
        """Send a command to node; returns its cmd_id."""
        now = int(time.time() * 1000)
        cid = cmd_id or f"{kind}-{version}-{time.monotonic_ns()}"
        cmd = Command.model_validate({"site": SITE, "node": node, "ts_ms": now, "cmd_id": cid,
                                      "kind": kind, "version": version, "epoch": epoch,
                                      "issued_at_ms": now, "expires_at_ms": now + int(ttl_s * 1000),
                                      "params": params or {}})
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = max(1, int(ttl_s))
        self.client.publish(TOPICS.node(SITE, node, "cmd"), encode(SIGNER.sign(cmd)), qos=1,
                            properties=props)
        return cid

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def agent_toml(broker: LocalBroker, node: str, state_dir: Path) -> str:
    """agent.toml text for a CLI test process (user added to the broker)."""
    broker.add_user(node, f"pw-{node}")
    return f"""
[node]
id = "{node}"
site = "{SITE}"
role = "office"

[mqtt]
url = "mqtt://{broker.host}:{broker.port}"
password = "pw-{node}"
keepalive_s = 2
reconnect_min_s = 0.2
reconnect_max_s = 1.0

[agent]
state_dir = "{state_dir}"
sample_interval_s = 0.2
"""
