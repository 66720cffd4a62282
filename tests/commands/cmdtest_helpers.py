"""Helpers for command tests: a real central (collector + API + commands) in a thread, a hook
feeder playing the collector's on_birth/on_ack wiring, a shaping namespace, agent configs."""

from __future__ import annotations

import asyncio
import errno
import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from aiohttp import web
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from agent.actuators.shaping import TcShaper
from agent.config import AgentConfig, parse_config
from central.api.app import make_app
from central.api.auth import TokenAuth
from central.collector import Collector
from central.collector.stats import Stats
from central.commands.api import setup_commands
from central.commands.leader import LeaderLease
from central.commands.service import CommandService, MqttPublisher
from central.commands.signer import CommandSigner
from central.config import RegistryNode, load_config
from central.policy.loop import PolicyLoop
from central.storage import open_storage
from central.storage.statedb import is_postgres
from protocol.codec import decode, encode
from protocol.messages import Birth, Command, CommandAck
from protocol.topics import Topics
from provisioning.localbroker import LocalBroker, free_port
from tests.cmdkeys import KEY_FILE, SIGNER, agent_commands
from tests.netns.nsutil import bridge_node
from tests.waiting import wait_for  # re-exported to the tests of this folder

SITE = "taman-kota"
TOPICS = Topics()
ADMIN = "cmd-test-admin-token"


class ConstProbe:
    """A deterministic probe: one healthy uplink and a few users."""

    name = "const"

    def collect(self) -> dict[str, Any]:
        return {"uplinks": [{"name": "wan", "up": True, "active": True, "rtt_ms": 12.5,
                             "loss_pct": 0.0}], "users": {"associated": 3, "total": 3}}


def agent_config(broker: LocalBroker, node: str, state_dir: Path, **shaping: Any) -> AgentConfig:
    """A fast agent config with shaping enabled on br0 (the node's user added to the broker)."""
    if node not in broker.passwords:
        broker.add_user(node, f"pw-{node}")
    return parse_config({
        "node": {"id": node, "site": SITE, "role": "park"},
        "mqtt": {"url": f"mqtt://{broker.host}:{broker.port}", "password": f"pw-{node}",
                 "keepalive_s": 2, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        "agent": {"state_dir": str(state_dir), "sample_interval_s": 0.2, "probe_timeout_s": 1.0},
        "outbox": {"flush_every": 1, "retry_min_s": 0.3, "retry_max_s": 1.0},
        "shaping": {"enabled": True, "lan_iface": "br0", "ifb_iface": "ifb-kotanet", **shaping},
        "commands": agent_commands(),
    })


class ShapingNs:
    """A namespace 'ktc…-node' with a bridge br0: the node's LAN side for real tc shaping."""

    def __init__(self) -> None:
        self.lab, self.ns = bridge_node("ktc")

    def shaper(self) -> TcShaper:
        """A real tc shaper working inside this namespace."""
        return TcShaper("br0", "ifb-kotanet", netns=self.ns.name)

    def down_kbps(self) -> int | None:
        """The node-total download rate tc enforces on br0 (None = not shaped by us)."""
        lan = self.shaper().read().lan
        return lan.classes[1][1].rate if lan.root_ours and 1 in lan.classes else None

    def snapshot(self) -> str:
        """Every qdisc, class and filter of br0 and the IFB (parameters, no counters)."""
        return "\n".join(self.ns.run("tc", *args, check=False).stdout for args in (
            ["-j", "qdisc", "show"], ["class", "show", "dev", "br0"],
            ["class", "show", "dev", "ifb-kotanet"], ["-j", "filter", "show", "dev", "br0"],
            ["-j", "filter", "show", "dev", "br0", "ingress"],
            ["-j", "filter", "show", "dev", "ifb-kotanet"]))

    def close(self) -> None:
        """Delete the namespace."""
        self.lab.close()


class HookFeeder:
    """Subscribes like the collector and calls the command service's on_birth/on_ack hooks;
    records births, acks and cmds; publishes raw commands as the test superuser."""

    def __init__(self, broker: LocalBroker, service: CommandService | None = None) -> None:
        self.service = service
        self.lock = threading.Lock()
        self.seen: list[tuple[str, Any]] = []
        self.expiry: dict[str, int | None] = {}  # cmd_id -> MQTT MessageExpiryInterval
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=f"cmd-feeder-{time.monotonic_ns()}")
        self.client.username_pw_set("kt-test", broker.passwords["kt-test"])
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe([(TOPICS.node_filter(k), 1) for k in ("birth", "ack", "cmd")])
        assert subscribed.wait(10), "feeder: no SUBACK"

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            parsed, model = decode(TOPICS, msg.topic, bytes(msg.payload))
        except Exception:
            return
        with self.lock:
            self.seen.append((getattr(parsed, "kind", "?"), model))
            if isinstance(model, Command):
                self.expiry[model.cmd_id] = getattr(msg.properties, "MessageExpiryInterval",
                                                    None)
        svc = self.service
        if svc is not None and isinstance(model, Birth):
            svc.on_birth(model)
        elif svc is not None and isinstance(model, CommandAck):
            svc.on_ack(model)

    def of(self, kind: str, node: str) -> list[Any]:
        """Models seen of one kind from/to node."""
        with self.lock:
            return [m for k, m in self.seen if k == kind and m.node == node]

    def stages(self, node: str, cmd_id: str) -> list[tuple[str, str]]:
        """(stage, code) of every ack of one command, in arrival order."""
        return [(a.stage, a.code) for a in self.of("ack", node) if a.cmd_id == cmd_id]

    def send(self, to: str, version: int, kind: str = "set_throttle", epoch: int = 1,
             params: dict[str, Any] | None = None, ttl_s: float = 30,
             signer: CommandSigner | None = SIGNER, **over: Any) -> str:
        """Publish a command straight onto node ``to``'s cmd topic; returns its cmd_id.

        ``over`` replaces payload fields (e.g. node= for a payload naming another node);
        signed by ``signer`` (None = unsigned) after that."""
        now = int(time.time() * 1000)
        body: dict[str, Any] = {"site": SITE, "node": to, "ts_ms": now, "kind": kind,
                                "cmd_id": f"raw-{kind}-{version}-{time.monotonic_ns()}",
                                "version": version, "epoch": epoch, "issued_at_ms": now,
                                "expires_at_ms": now + int(ttl_s * 1000),
                                "params": params or {}}
        body.update(over)
        cmd = Command.model_validate(body)
        self.publish_raw(to, encode(signer.sign(cmd) if signer is not None else cmd), ttl_s)
        return str(body["cmd_id"])

    def publish_raw(self, to: str, payload: bytes, ttl_s: float = 30) -> None:
        """Publish payload bytes onto node ``to``'s cmd topic with central's credentials."""
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = max(1, int(ttl_s))
        self.client.publish(TOPICS.node(SITE, to, "cmd"), payload, qos=1,
                            properties=props).wait_for_publish(5)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


class CentralServer:
    """Central's real app (collector, API, commands) served on a loopback port in a thread."""

    def __init__(self, broker: LocalBroker, db: Path | str, instance: str, nodes: list[str],
                 policy_interval_s: float | None = None, state: str | None = None) -> None:
        """``db``: a SQLite file, or a PostgreSQL URL (every table there); ``state``: the state
        tables elsewhere (a SQLite file or a PostgreSQL URL), default: with the rest."""
        self.port = free_port()
        db_url = str(db) if is_postgres(str(db)) else f"sqlite:///{db}"
        env = {"KOTANET_MQTT_URL": broker.url("kt-test"), "KOTANET_DB": db_url,
               "KOTANET_HTTP": f"127.0.0.1:{self.port}", "KOTANET_ADMIN_TOKEN": ADMIN,
               "KOTANET_COMMAND_KEY": str(KEY_FILE)}
        if state is not None:  # the state tables elsewhere: a SQLite file or PostgreSQL
            env["KOTANET_STATE_DB"] = state if "://" in state else f"sqlite:///{state}"
        cfg = load_config(None, env=env)
        self.cfg = cfg.model_copy(update={"instance": instance, "nodes": [
            RegistryNode(node=n, site=SITE) for n in nodes]})
        self.storage = open_storage(self.cfg.storage.url)
        self.tokens = {r: TokenAuth(self.storage, None).create(f"t-{r}", r)
                       for r in ("viewer", "operator")}
        stats = Stats()
        self.collector = Collector(self.cfg, self.storage, stats)
        self.app = make_app(self.cfg, self.storage, stats, self.collector)
        self.service = setup_commands(self.app, self.cfg)
        self.lease = LeaderLease(self.service.store, instance, ttl_s=5.0)
        if policy_interval_s is not None:  # the leader-only loop, tied to the app's lifetime
            loop = PolicyLoop(self.service, self.lease, None, policy_interval_s)
            self.app.cleanup_ctx.append(loop.lifetime)
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(self.app)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self._call(self._start())
            pub = self.service.publisher
            assert isinstance(pub, MqttPublisher)
            wait_for(pub.connected.is_set, 10, "command publisher connected")
            wait_for(self.collector.ready.is_set, 10, "collector subscribed")
        except BaseException:
            self.stop()  # a collector left running would take its share of later tests' data
            raise

    async def _start(self) -> None:
        await self._runner.setup()
        for attempt in range(3):  # free_port() races with the other processes on the machine
            try:
                await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
                return
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or attempt == 2:
                    raise
                self.port = free_port()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def http(self, method: str, path: str, role: str | None = "operator",
             body: Any = None) -> tuple[int, Any]:
        """One request; role None = anonymous. Returns (status, JSON body)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     method=method)
        req.add_header("Content-Type", "application/json")
        if role is not None:
            req.add_header("Authorization", f"Bearer {self.tokens[role]}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def stop(self) -> None:
        """Shut the app down (collector, command client) and close the database."""
        try:
            self._call(self._runner.cleanup())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self.storage.close()
