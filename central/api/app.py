"""aiohttp app: one route table, Bearer-token auth, JSON API, /metrics, /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web

from central import metrics
from central.auth import Principal, TokenAuth
from central.collector import Collector
from central.config import CentralConfig
from central.stats import Stats
from central.storage import Storage

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONFIG = web.AppKey("config", CentralConfig)
STORAGE = web.AppKey("storage", Storage)
STATS = web.AppKey("stats", Stats)
AUTH = web.AppKey("auth", TokenAuth)
COLLECTOR = web.AppKey("collector", Collector)
GAP_SUMMARY = web.AppKey("gap_summary", dict)
MAX_LIMIT = 10000
GAP_REFRESH_S = 15.0


def _ms() -> int:
    return int(time.time() * 1000)


def _error(status: int, message: str) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.json_response({"error": message}, status=status, headers=headers)


def guard(role: str | None, handler: Handler) -> Handler:
    """Wrap a handler so it needs a Bearer token of at least this role (None = open)."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if role is not None:
            auth = request.app[AUTH]
            who: Principal | None = await asyncio.to_thread(
                auth.resolve, request.headers.get("Authorization"))
            if who is None:
                return _error(401, "missing or invalid Bearer token")
            if not who.can(role):
                return _error(403, f"needs role {role}, token has {who.role}")
        return await handler(request)
    return wrapped


def _grace_ms(app: web.Application) -> int:
    return int(app[CONFIG].gap_grace_s * 1000)


def node_summary(row: dict[str, Any]) -> dict[str, Any]:
    """The list view of one node, as /api/v1/nodes returns it."""
    lag = None
    if row["last_received_ms"] is not None and row["last_sample_ms"] is not None:
        lag = row["last_received_ms"] - row["last_sample_ms"]
    throttle = None
    if row["throttle_version"] is not None:
        throttle = {"version": row["throttle_version"], "down_kbps": row["throttle_down_kbps"],
                    "up_kbps": row["throttle_up_kbps"]}
    return {
        "node": row["node"], "site": row["site"], "role": row["role"], "name": row["name"],
        "online": bool(row["online"]), "session": row["session"],
        "last_seen_ms": row["last_seen_ms"], "online_since_ms": row["online_since_ms"],
        "offline_since_ms": row["offline_since_ms"], "active_uplink": row["active_uplink"],
        "users": row["users_total"], "users_authenticated": row["users_authenticated"],
        "rtt_ms": row["rtt_ms"], "loss_pct": row["loss_pct"], "cpu_pct": row["cpu_pct"],
        "temp_c": row["temp_c"], "throttle": throttle, "unregistered": bool(row["unregistered"]),
        "last_seq": row["last_seq"], "last_sample_ms": row["last_sample_ms"],
        "delivery_lag_ms": lag,
    }


async def healthz(request: web.Request) -> web.Response:
    """Liveness, and whether the collector is connected to the broker."""
    stats = request.app[STATS]
    return web.json_response({"ok": True, "instance": request.app[CONFIG].instance_id(),
                              "mqtt_connected": stats.connected})


async def list_nodes(request: web.Request) -> web.Response:
    """Every node with presence and headline figures."""
    rows = await asyncio.to_thread(request.app[STORAGE].list_nodes)
    return web.json_response({"nodes": [node_summary(r) for r in rows]})


async def get_node(request: web.Request) -> web.Response:
    """One node: birth info, last sample, presence, gaps and drops."""
    node = request.match_info["node"]
    d = await asyncio.to_thread(request.app[STORAGE].node_detail, node, _ms(),
                                _grace_ms(request.app))
    if d is None:
        return _error(404, f"unknown node {node!r}")
    return web.json_response({**node_summary(d), "birth": d["birth"], "birth_ms": d["birth_ms"],
                              "last_sample": d["last_sample"], "records": d["records"],
                              "gaps": d["gaps"], "drops": d["drops"]})


def _window(request: web.Request) -> tuple[int | None, int | None, int]:
    """since_ms, until_ms, limit from the query string; HTTPBadRequest on bad values."""
    vals: dict[str, int | None] = {}
    for key in ("since_ms", "until_ms", "limit"):
        raw = request.query.get(key)
        if raw is None or raw == "":
            vals[key] = None
            continue
        try:
            vals[key] = int(raw)
        except ValueError:
            raise web.HTTPBadRequest(text=f'{{"error": "{key} must be an integer"}}',
                                     content_type="application/json") from None
        if (vals[key] or 0) < 0:
            raise web.HTTPBadRequest(text=f'{{"error": "{key} must not be negative"}}',
                                     content_type="application/json")
    limit = 1000 if vals["limit"] is None else vals["limit"]
    if not 1 <= limit <= MAX_LIMIT:
        raise web.HTTPBadRequest(text=f'{{"error": "limit must be 1..{MAX_LIMIT}"}}',
                                 content_type="application/json")
    since, until = vals["since_ms"], vals["until_ms"]
    if since is not None and until is not None and until < since:
        raise web.HTTPBadRequest(text='{"error": "until_ms is before since_ms"}',
                                 content_type="application/json")
    return since, until, limit


async def node_samples(request: web.Request) -> web.Response:
    """Samples of a node in [since_ms, until_ms), oldest first."""
    node = request.match_info["node"]
    since, until, limit = _window(request)
    rows = await asyncio.to_thread(request.app[STORAGE].samples, node, since, until, limit)
    return web.json_response({"node": node, "samples": rows})


async def node_events(request: web.Request) -> web.Response:
    """Events of a node in [since_ms, until_ms), oldest first."""
    node = request.match_info["node"]
    since, until, limit = _window(request)
    rows = await asyncio.to_thread(request.app[STORAGE].events, node, since, until, limit)
    return web.json_response({"node": node, "events": rows})


async def list_gaps(request: web.Request) -> web.Response:
    """Every gap older than the grace period, minus agent-reported drops."""
    gaps = await asyncio.to_thread(request.app[STORAGE].gaps, _ms(), _grace_ms(request.app))
    return web.json_response({"grace_s": request.app[CONFIG].gap_grace_s,
                              "gaps": [g.as_dict() for g in gaps]})


async def stats(request: web.Request) -> web.Response:
    """Collector counters and stored totals."""
    totals = await asyncio.to_thread(request.app[STORAGE].totals)
    return web.json_response({"instance": request.app[CONFIG].instance_id(),
                              "collector": request.app[STATS].snapshot(), "storage": totals,
                              "gaps": request.app[GAP_SUMMARY]})


async def prometheus(request: web.Request) -> web.Response:
    """Prometheus text format (open, like node_exporter: counters only, no secrets)."""
    app = request.app
    totals = await asyncio.to_thread(app[STORAGE].totals)
    body = metrics.render(app[STATS].snapshot(), totals, app[GAP_SUMMARY],
                          app[CONFIG].instance_id())
    from central import alerts_api  # here, not at the top: alerts_api imports this module
    body += await alerts_api.metrics_text(app)
    return web.Response(body=body.encode(), headers={
        "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
        "X-Content-Type-Options": "nosniff"})


ROUTES: list[tuple[str, str, Handler, str | None]] = [
    ("GET", "/healthz", healthz, None),
    ("GET", "/metrics", prometheus, None),
    ("GET", "/api/v1/nodes", list_nodes, "viewer"),
    ("GET", "/api/v1/nodes/{node}", get_node, "viewer"),
    ("GET", "/api/v1/nodes/{node}/samples", node_samples, "viewer"),
    ("GET", "/api/v1/nodes/{node}/events", node_events, "viewer"),
    ("GET", "/api/v1/gaps", list_gaps, "viewer"),
    ("GET", "/api/v1/stats", stats, "viewer"),
]


async def _gap_refresher(app: web.Application) -> AsyncIterator[None]:
    async def loop() -> None:
        while True:
            try:
                gaps = await asyncio.to_thread(app[STORAGE].gaps, _ms(), _grace_ms(app))
                per_node: dict[str, int] = {}
                for g in gaps:
                    per_node[g.node] = per_node.get(g.node, 0) + g.missing
                app[GAP_SUMMARY].update(count=len(gaps), missing=sum(per_node.values()),
                                        nodes=per_node, refreshed_ms=_ms())
            except Exception:
                log.exception("gap refresh failed")
            await asyncio.sleep(GAP_REFRESH_S)
    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _collector_ctx(app: web.Application) -> AsyncIterator[None]:
    collector = app[COLLECTOR]
    await asyncio.to_thread(collector.start)
    yield
    await asyncio.to_thread(collector.stop)


def make_app(cfg: CentralConfig, storage: Storage, stats: Stats,
             collector: Collector | None = None) -> web.Application:
    """Build the app; if a collector is given it runs for exactly the app's lifetime."""
    app = web.Application()
    app[CONFIG] = cfg
    app[STORAGE] = storage
    app[STATS] = stats
    app[AUTH] = TokenAuth(storage, cfg.http.admin_token)
    app[GAP_SUMMARY] = {"count": 0, "missing": 0, "nodes": {}, "refreshed_ms": None}
    for method, path, handler, role in ROUTES:
        app.router.add_route(method, path, guard(role, handler))
    if collector is not None:
        app[COLLECTOR] = collector
        app.cleanup_ctx.append(_collector_ctx)
    app.cleanup_ctx.append(_gap_refresher)
    return app
