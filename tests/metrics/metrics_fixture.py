"""A whole central app (central.assemble) on a temp SQLite database with a small stored fleet:
two registered nodes (one throttled on fibre, one offline on LTE), one unregistered publisher,
and one command with its ack stages. Used by the promtool and dashboard tests."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from central.api.state import METRICS
from central.assemble import build_app
from central.collector.stats import Stats
from central.commands.api import COMMANDS
from central.config import RegistryNode, load_config
from central.metrics.registry import render
from central.storage import Incoming, Storage, open_storage
from protocol.messages import Birth, CommandAck, NodeState, Tele

SITE = "taman-kota"
REGISTERED = ("tk-01", "tk-02")
INTRUDER = "intruder-x"


def _sample(seq: int, ts: int, active: str, users: int, throttle_kbps: int | None) -> dict:
    return {"seq": seq, "ts_ms": ts, "users": {"total": users, "authenticated": users // 2},
            "uplinks": [
                {"name": "fibre", "up": active == "fibre", "active": active == "fibre",
                 "rtt_ms": 18.0, "loss_pct": 0.0},
                {"name": "lte", "up": True, "active": active == "lte", "rtt_ms": 65.0,
                 "loss_pct": 1.0}],
            "system": {"cpu_pct": 12.0, "temp_c": 51.0},
            "shaping": {"version": 2, "down_kbps": throttle_kbps, "up_kbps": throttle_kbps // 2}
            if throttle_kbps else None}


def _node(node: str, now: int, active: str, users: int, throttle: int | None,
          unregistered: bool = False) -> list[Incoming]:
    birth = Birth.model_validate({
        "site": SITE, "node": node, "ts_ms": now - 5000, "session": 1, "boot_id": "b",
        "agent_version": "0.1.0", "config_hash": "h", "role": "park",
        "clock": {"synced": True, "wall_ms": now}})
    tele = Tele.model_validate({
        "site": SITE, "node": node, "ts_ms": now, "session": 1, "seq": 1,
        "samples": [_sample(i, now - 3000 + i * 1000, active, users, throttle)
                    for i in (1, 2)]})
    return [Incoming(SITE, node, birth, now - 5000, unregistered),
            Incoming(SITE, node, tele, now, unregistered)]


@dataclass
class MetricsApp:
    """The app, its storage and stats; ``text()`` renders /metrics as Prometheus would get it."""

    app: web.Application
    storage: Storage
    stats: Stats

    def text(self) -> str:
        """The registry rendered now (the same bytes /metrics serves)."""
        return render(self.app[METRICS]).decode()


def fill_fleet(storage: Storage, now: int | None = None) -> int:
    """Store the registered nodes and the intruder (any backend); returns the time used."""
    now = int(time.time() * 1000) if now is None else now
    storage.sync_registry([RegistryNode(node=n, site=SITE, role="park") for n in REGISTERED])
    storage.write([*_node("tk-01", now, "fibre", 12, 8000), *_node("tk-02", now, "lte", 3, None),
                   *_node(INTRUDER, now, "fibre", 99, None, unregistered=True)])
    storage.write([Incoming(SITE, "tk-02", NodeState.model_validate(
        {"site": SITE, "node": "tk-02", "ts_ms": now, "online": False, "session": 1}), now)])
    return now


def metrics_app(tmp: Path) -> MetricsApp:
    """Build the app and store the fleet described in the module docstring."""
    env = {"KOTANET_DB": f"sqlite:///{tmp / 'central.db'}", "KOTANET_HTTP": "127.0.0.1:1",
           "KOTANET_ADMIN_TOKEN": "metrics-test-token-0123456789"}
    cfg = load_config(None, env=env).model_copy(update={"nodes": [
        RegistryNode(node=n, site=SITE, role="park") for n in REGISTERED]})
    storage = open_storage(cfg.storage.url)
    now = fill_fleet(storage)
    stats = Stats()
    stats.reject("malformed", INTRUDER, "bad json")
    stats.reject("malformed", "tk-01", "bad json")
    stats.limit(f"{INTRUDER}-2")
    app = build_app(cfg, storage, stats, with_policy=False)
    store = app[COMMANDS].store
    rec = store.new_command({"cmd_id": "c-1", "node": "tk-01", "site": SITE,
                             "kind": "set_throttle", "epoch": None,
                             "params": {"down_kbps": 8000, "up_kbps": 4000, "lease_s": 600},
                             "issued_at_ms": now, "expires_at_ms": now + 60_000,
                             "origin": "operator", "issued_by": "test"}, lease_s=600.0)
    for stage in ("accepted", "applied"):
        app[COMMANDS].on_ack(CommandAck.model_validate({
            "site": SITE, "node": "tk-01", "ts_ms": now, "cmd_id": "c-1", "stage": stage,
            "code": "ok", "detail": "", "applied_version": rec["version"]}), now)
    return MetricsApp(app, storage, stats)
