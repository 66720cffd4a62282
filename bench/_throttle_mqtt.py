"""The full command path for bench/throttle.py, and its anchor (helper, not a bench itself).

Path: central's CommandService.issue (record in SQLite, publish QoS 1 with expiry) -> private
mosquitto -> a real Agent (command gate, ShapingController, real tc in a namespace) -> ack
'applied' -> central's Collector (shared subscription, batch commit) -> the on-commit hook
that feeds CommandService.on_ack. Anchor, in the same broker and run: a plain paho client
publishes a command-sized message QoS 1, an echo client answers with an ack-sized one.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from agent.actuators.shaping import TcShaper
from agent.config import parse_config
from agent.controllers.shaping import ShapingController
from agent.runtime import Agent
from central.collector import Collector
from central.collector.stats import Stats
from central.commands.service import CommandService, MqttPublisher
from central.commands.signer import CommandSigner
from central.commands.store import CommandStore
from central.config import RegistryNode, load_config
from central.storage import open_storage
from central.storage.base import Incoming
from central.storage.location import sqlite_file
from protocol.messages import Birth, CommandAck
from protocol.signing import b64url
from protocol.topics import Topics
from provisioning.localbroker import LocalBroker

NODE, SITE = "bench-node", "taman-kota-sampit"
ANCHOR = Topics("kotanet-bench/v1")  # outside central's subscriptions


class _Probe:
    name = "const"

    def collect(self) -> dict[str, Any]:
        return {"uplinks": [{"name": "fiber", "up": True, "active": True, "rtt_ms": 10.0}],
                "users": {"associated": 2, "total": 2}}


def _wait(cond: threading.Condition, pred: Any, timeout: float, what: str) -> None:
    with cond:
        if not cond.wait_for(pred, timeout):
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


class CommandPath:
    """Broker, central (collector + command service), agent with tc in ``netns``; close() stops."""

    def __init__(self, workdir: Path, netns: str, clients: Iterable[str]) -> None:
        self._cond = threading.Condition()
        self._applied: dict[str, float] = {}
        self._births = 0
        self._closers: list[Any] = []
        try:
            self._start(workdir, netns, list(clients))
        except BaseException:
            self.close()
            raise

    def _start(self, workdir: Path, netns: str, clients: list[str]) -> None:
        self.broker = LocalBroker(workdir / "mosquitto", persistence=False)
        for user in ("kt-test", NODE):
            self.broker.add_user(user, secrets.token_urlsafe(12), reload=False)
        self.broker.start()
        self._closers.append(self.broker.stop)
        cfg = load_config(None, env={"KOTANET_MQTT_URL": self.broker.url("kt-test"),
                                     "KOTANET_DB": f"sqlite:///{workdir}/central.db"})
        cfg = cfg.model_copy(update={"instance": "bench-central",
                                     "nodes": [RegistryNode(node=NODE, site=SITE)]})
        self.storage = open_storage(cfg.storage.url)
        self._closers.append(self.storage.close)
        self.collector = Collector(cfg, self.storage, Stats())
        signer = CommandSigner(Ed25519PrivateKey.generate())  # signed, as in production
        self.service = CommandService(CommandStore(sqlite_file(cfg.storage.url)),
                                      MqttPublisher(cfg), Topics(cfg.topic_prefix),
                                      cfg.instance_id(), signer=signer)
        self._closers.append(self.service.store.close)
        self.collector.add_listener(self._on_commit)
        pub = self.service.publisher
        assert isinstance(pub, MqttPublisher)
        pub.start()
        self._closers.append(pub.stop)
        self.collector.start()
        self._closers.append(self.collector.stop)
        if not (pub.connected.wait(10) and self.collector.ready.wait(10)):
            raise RuntimeError("central did not connect to the bench broker")
        acfg = parse_config({
            "node": {"id": NODE, "site": SITE, "role": "park"},
            "mqtt": {"url": f"mqtt://{self.broker.host}:{self.broker.port}",
                     "password": self.broker.passwords[NODE], "keepalive_s": 5},
            "agent": {"state_dir": str(workdir / "agent"), "sample_interval_s": 1.0},
            "shaping": {"enabled": True, "lan_iface": "br0", "ifb_iface": "ifb-kotanet"},
            "commands": {"keys": {signer.key_id: b64url(signer.public_key)}}})
        self.agent = Agent(acfg, [_Probe()], simulated=True)
        self.agent.shaping = ShapingController(acfg.shaping, TcShaper("br0", "ifb-kotanet",
                                                                      netns=netns))
        self.agent.shaping.set_clients(clients)
        self.agent.start()
        self._closers.append(self.agent.stop)
        _wait(self._cond, lambda: self._births > 0, 15, "the agent's birth at central")

    def _on_commit(self, inc: Incoming) -> None:
        """Central's on-commit hook, as assemble wires it, plus the bench's stopwatch."""
        now = time.perf_counter()
        if isinstance(inc.msg, CommandAck):
            self.service.on_ack(inc.msg, inc.received_ms)
            if inc.msg.stage == "applied":
                with self._cond:
                    self._applied[inc.msg.cmd_id] = now
                    self._cond.notify_all()
        elif isinstance(inc.msg, Birth):
            self.service.on_birth(inc.msg)
            with self._cond:
                self._births += 1
                self._cond.notify_all()

    def command_ms(self, params: dict[str, Any], timeout: float = 10.0) -> float:
        """Milliseconds from CommandService.issue to the committed 'applied' ack."""
        t0 = time.perf_counter()
        cmd = self.service.issue(NODE, SITE, "set_throttle", params, origin="bench")
        _wait(self._cond, lambda: cmd.cmd_id in self._applied, timeout, f"ack of {cmd.cmd_id}")
        return (self._applied.pop(cmd.cmd_id) - t0) * 1000

    def kernel_down_kbps(self) -> int | None:
        """The node-total download rate tc enforces now."""
        assert self.agent.shaping is not None
        lan = self.agent.shaping.shaper.read().lan
        return lan.classes[1][1].rate if lan.root_ours and 1 in lan.classes else None

    def close(self) -> None:
        """Stop everything started, newest first."""
        while self._closers:
            try:
                self._closers.pop()()
            except Exception as exc:  # keep stopping the rest
                print(f"bench: stop failed: {exc}")


class EchoAnchor:
    """Bare MQTT round trip on the same broker: publish QoS 1 -> echo client acks QoS 1."""

    def __init__(self, broker: LocalBroker) -> None:
        self._cond = threading.Condition()
        self._got: set[bytes] = set()
        self._cmd = ANCHOR.node(SITE, "echo", "cmd")
        self._ack = ANCHOR.node(SITE, "echo", "ack")
        self.clients = [self._client(broker, "bench-caller", self._ack, self._on_ack),
                        self._client(broker, "bench-echo", self._cmd, self._on_cmd)]

    def _client(self, broker: LocalBroker, cid: str, topic: str, cb: Any) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
        c.username_pw_set("kt-test", broker.passwords["kt-test"])
        c.on_message = cb
        done = threading.Event()
        c.on_subscribe = lambda *a: done.set()
        c.connect(broker.host, broker.port)
        c.loop_start()
        c.subscribe(topic, qos=1)
        if not done.wait(10):
            raise RuntimeError(f"{cid}: no SUBACK")
        return c

    def _on_cmd(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        client.publish(self._ack, bytes(msg.payload[:16]) + b" " * 240, qos=1)

    def _on_ack(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self._got.add(bytes(msg.payload[:16]))
            self._cond.notify_all()

    def round_trip_ms(self, payload_size: int = 420) -> float:
        """Milliseconds from publish to the echo's reply."""
        tag = secrets.token_hex(8).encode()
        t0 = time.perf_counter()
        self.clients[0].publish(self._cmd, tag + b" " * (payload_size - len(tag)), qos=1)
        _wait(self._cond, lambda: tag in self._got, 10, "the echo")
        return (time.perf_counter() - t0) * 1000

    def close(self) -> None:
        """Disconnect both clients."""
        for c in self.clients:
            c.disconnect()
            c.loop_stop()
