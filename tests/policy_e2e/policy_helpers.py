"""Helpers for policy end-to-end tests: central's real app from a fleet config, served in a
thread; a node namespace with br0 for real tc shaping; an agent probe with a crowd of users."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from agent.actuators.shaping import TcShaper
from central.api.auth import TokenAuth
from central.assemble import build_app
from central.collector import Collector
from central.collector.stats import Stats
from central.commands.api import COMMANDS
from central.commands.service import MqttPublisher
from central.config import load_config
from central.storage import open_storage
from provisioning.localbroker import LocalBroker, free_port
from tests import waiting
from tests.cmdkeys import KEY_FILE
from tests.netns.nsutil import bridge_node

ROOT = Path(__file__).resolve().parents[2]


def wait_for(cond: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """tests.waiting.wait_for with this folder's longer default (policy ticks are slow)."""
    return waiting.wait_for(cond, timeout, what)


class CrowdProbe:
    """A park node's probe: a fibre uplink (RTT settable) and ``users`` people on the Wi-Fi."""

    name = "crowd"

    def __init__(self, users: int, rtt_ms: float = 15.0) -> None:
        self.users = users
        self.rtt_ms = rtt_ms

    def collect(self) -> dict[str, Any]:
        return {"uplinks": [{"name": "fiber", "up": True, "active": True,
                             "rtt_ms": self.rtt_ms, "loss_pct": 0.0}],
                "users": {"associated": self.users, "total": self.users}}


class NodeNs:
    """Namespace 'kte…-node' with a bridge br0: the node's LAN side where tc shapes."""

    def __init__(self) -> None:
        self.lab, self.ns = bridge_node("kte")

    def shaper(self) -> TcShaper:
        """A real tc shaper inside this namespace."""
        return TcShaper("br0", "ifb-kotanet", netns=self.ns.name)

    def rates(self) -> tuple[int | None, int | None]:
        """Node-total (download, upload) HTB rates in the kernel, None = not shaped by us."""
        st = self.shaper().read()
        out: list[int | None] = []
        for side in (st.lan, st.ifb):
            out.append(side.classes[1][1].rate if side.root_ours and 1 in side.classes
                       else None)
        return out[0], out[1]

    def close(self) -> None:
        """Delete the namespace."""
        self.lab.close()


class PolicyCentral:
    """kotanet central exactly as the CLI builds it (build_app) from a TOML config file."""

    def __init__(self, broker: LocalBroker, config: Path, db: Path,
                 clock_ms: Callable[[], int]) -> None:
        self.port = free_port()
        env = {"KOTANET_MQTT_URL": broker.url("kt-test"), "KOTANET_DB": f"sqlite:///{db}",
               "KOTANET_HTTP": f"127.0.0.1:{self.port}", "KOTANET_COMMAND_KEY": str(KEY_FILE)}
        self.cfg = load_config(config, env=env)
        self.storage = open_storage(self.cfg.storage.url)
        self.viewer = TokenAuth(self.storage, None).create("noc-screen", "viewer")
        stats = Stats()
        self.collector = Collector(self.cfg, self.storage, stats)
        self.app = build_app(self.cfg, self.storage, stats, self.collector,
                             policy_clock_ms=clock_ms)
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(self.app)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
            pub = self.app[COMMANDS].publisher
            assert isinstance(pub, MqttPublisher)
            wait_for(pub.connected.is_set, 10, "command publisher connected")
            wait_for(self.collector.ready.is_set, 10, "collector subscribed")
        except BaseException:
            self.stop()
            raise

    async def _start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def get(self, path: str, token: str | None = "viewer") -> tuple[int, Any]:
        """GET with the viewer token (None = anonymous); returns (status, JSON)."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token is not None:
            req.add_header("Authorization", f"Bearer {self.viewer}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def stop(self) -> None:
        """Shut the app down (collector, command client, policy loop) and close the DB."""
        try:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self.storage.close()
