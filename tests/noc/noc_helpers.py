"""NOC test helpers: central + NOC in a server thread, synthetic fleet data, HTTP sessions."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from central.api.app import make_app
from central.collector import Collector
from central.collector.stats import Stats
from central.config import CentralConfig, RegistryNode, load_config
from central.noc import NocSettings, setup_noc
from central.storage import Incoming, Storage, open_storage
from central.storage.statedb import is_postgres
from protocol.messages import Birth, NodeState, Tele
from provisioning.localbroker import free_port

ROOT = Path(__file__).resolve().parents[2]
SITES_FILE = ROOT / "agent" / "sim" / "sampit.json"
ADMIN_TOKEN = "noc-test-admin-token-0123456789"
PASSWORD = "correct-horse-battery"


def db_url(db: Path | str) -> str:
    """central's database URL of a SQLite file path or a PostgreSQL URL."""
    return str(db) if is_postgres(str(db)) else f"sqlite:///{db}"


def central_cfg(db: Path | str, mqtt_url: str | None = None, **extra: Any) -> CentralConfig:
    """A central config on a temp database (a SQLite file or a PostgreSQL URL: every table
    there) with the test admin token."""
    env = {"KOTANET_DB": db_url(db), "KOTANET_ADMIN_TOKEN": ADMIN_TOKEN,
           "KOTANET_HTTP": "127.0.0.1:1"}
    if mqtt_url:
        env["KOTANET_MQTT_URL"] = mqtt_url
    cfg = load_config(None, env=env)
    return cfg.model_copy(update=extra) if extra else cfg


def build_app(cfg: CentralConfig, storage: Storage, collector: Collector | None = None,
              full: bool = False, **noc: Any) -> web.Application:
    """Central's app factory (full: the whole process with the commands API), then setup_noc."""
    stats = collector.stats if collector else Stats()
    if full:
        from central.assemble import build_app as build_central

        app = build_central(cfg, storage, stats, collector, with_policy=False)
    else:
        app = make_app(cfg, storage, stats, collector)
    setup_noc(app, NocSettings(sites_file=str(SITES_FILE), **noc))
    return app


class ServerThread:
    """Serve an aiohttp app on 127.0.0.1:<free port> from its own thread and event loop."""

    def __init__(self, app: web.Application) -> None:
        self.app, self.port = app, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="noc-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        runner = web.AppRunner(self.app, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def start(self) -> ServerThread:
        """Start serving; returns once the port listens."""
        self._thread.start()
        if not self._ready.wait(30) or self._error is not None:
            raise RuntimeError(f"server did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        """Stop serving (runs the app's cleanup) and join the thread."""
        if self._stop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        self._loop.close()


def _birth(site: str, node: str, session: int, ts: int, role: str = "park") -> Birth:
    return Birth.model_validate({
        "site": site, "node": node, "ts_ms": ts, "session": session, "boot_id": "b",
        "agent_version": "0.1.0", "config_hash": "h", "role": role,
        "uplinks": [{"name": "fibre", "iface": "eth0", "kind": "ethernet", "priority": 0},
                    {"name": "lte", "iface": "wwan0", "kind": "lte", "priority": 1}],
        "clock": {"synced": True, "wall_ms": ts}})


def sample(seq: int, ts: int, active: str = "fibre", rx_bps: float = 20e6, users: int = 12,
           loss: float = 0.0, shaping_kbps: int | None = None) -> dict[str, Any]:
    """One sample dict with fibre + LTE uplinks."""
    return {"seq": seq, "ts_ms": ts, "users": {"total": users, "authenticated": users // 2},
            "uplinks": [
                {"name": "fibre", "up": active == "fibre", "active": active == "fibre",
                 "rtt_ms": 18.0, "loss_pct": loss, "rx_bps": rx_bps if active == "fibre" else 0,
                 "tx_bps": rx_bps * 0.2 if active == "fibre" else 0},
                {"name": "lte", "up": True, "active": active == "lte", "rtt_ms": 65.0,
                 "loss_pct": 1.0, "rx_bps": rx_bps if active == "lte" else 0,
                 "tx_bps": rx_bps * 0.2 if active == "lte" else 0}],
            "system": {"cpu_pct": 12.0, "temp_c": 51.0},
            "shaping": {"version": 2, "down_kbps": shaping_kbps, "up_kbps": shaping_kbps // 2}
            if shaping_kbps else None}


def fill(storage: Storage, nodes: list[tuple[str, str]], samples_per_node: int = 6,
         step_ms: int = 10_000, now_ms: int | None = None, offline: set[str] = frozenset(),
         backup: set[str] = frozenset(), throttled: set[str] = frozenset()) -> None:
    """Write births, samples ending now and presence for (node, site) pairs into storage."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    storage.sync_registry([RegistryNode(node=n, site=s, role="park", name=s)
                           for n, s in nodes])
    batch: list[Incoming] = []
    for node, site in nodes:
        start = now - samples_per_node * step_ms
        batch.append(Incoming(site, node, _birth(site, node, 1, start), start))
        samples = [sample(i + 1, start + i * step_ms, "lte" if node in backup else "fibre",
                          shaping_kbps=8000 if node in throttled else None)
                   for i in range(samples_per_node)]
        batch.append(Incoming(site, node, Tele.model_validate(
            {"site": site, "node": node, "ts_ms": now, "session": 1, "seq": 1,
             "samples": samples}), now))
        if node in offline:
            batch.append(Incoming(site, node, NodeState.model_validate(
                {"site": site, "node": node, "ts_ms": now, "online": False, "session": 1}),
                now))
        if len(batch) > 600:
            storage.write(batch)
            batch = []
    storage.write(batch)


def csrf_of(html: str) -> str:
    """The CSRF token in a page (hidden form field)."""
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field in page"
    return m.group(1)


def open_db(db: Path | str) -> Storage:
    """Open central's storage: a SQLite file path or a PostgreSQL URL."""
    return open_storage(db_url(db))


class Browserless:
    """An HTTP client with its own cookie jar (one per role), against a ServerThread."""

    def __init__(self, base: str) -> None:
        import aiohttp

        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def login(self, user: str, password: str = PASSWORD) -> int:
        """Log in through the form; returns the POST status (303 on success)."""
        async with self.http.get(f"{self.base}/noc/login") as r:
            pre = csrf_of(await r.text())
        async with self.http.post(f"{self.base}/noc/login", allow_redirects=False, data={
                "csrf": pre, "username": user, "password": password, "next": "/noc/"}) as r:
            status = r.status
        if status == 303:
            async with self.http.get(f"{self.base}/noc/") as r:
                self.csrf = csrf_of(await r.text())
        return status

    async def close(self) -> None:
        """Close the client session."""
        await self.http.close()


def run_async(coro: Any, timeout_s: float = 120.0) -> Any:
    """asyncio.run in a fresh thread (Playwright's sync API owns the main thread's loop)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=timeout_s)
