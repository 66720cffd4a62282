"""The aiohttp app factory: the API's own routes (/healthz, /metrics, the nodes read API),
typed state, and the collector's lifetime.

/metrics renders the app's prometheus-client registry (``METRICS``): make_app registers the
collector's counters and the fleet figures, the composition root (central.assemble) adds the
features' collectors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from central.api import nodes
from central.api.auth import AUTH, Route, TokenAuth, add_routes
from central.api.jsonout import json_response
from central.api.state import (
    COLLECTOR,
    CONFIG,
    GAP_SUMMARY,
    METRICS,
    STATS,
    STORAGE,
)
from central.collector.metrics import CollectorMetrics
from central.collector.service import Collector
from central.collector.stats import Stats
from central.config import CentralConfig
from central.metrics.fleet import FleetMetrics
from central.metrics.registry import CONTENT_TYPE, new_registry, render
from central.storage.base import Storage


async def healthz(request: web.Request) -> web.Response:
    """Liveness, and whether the collector is connected to the broker."""
    stats = request.app[STATS]
    return json_response({"ok": True, "instance": request.app[CONFIG].instance_id(),
                              "mqtt_connected": stats.connected})


async def prometheus(request: web.Request) -> web.Response:
    """Prometheus text format (open, like node_exporter: figures only, no secrets).

    The collectors read the database, so the registry is rendered in a worker thread."""
    body = await asyncio.to_thread(render, request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE,
                                            "X-Content-Type-Options": "nosniff"})

ROUTES: list[Route] = [
    ("GET", "/healthz", healthz, None),
    ("GET", "/metrics", prometheus, None),
    *nodes.ROUTES,
]


async def _collector_ctx(app: web.Application) -> AsyncIterator[None]:
    collector = app[COLLECTOR]
    await asyncio.to_thread(collector.start)
    yield
    await asyncio.to_thread(collector.stop)


def make_app(cfg: CentralConfig, storage: Storage, stats: Stats,
             collector: Collector | None = None) -> web.Application:
    """Build the app; if a collector is given it runs for exactly the app's lifetime.

    Its /metrics registry holds the collector's counters and the fleet figures; per-node
    labels only for the registry's nodes (central.assemble registers the features' collectors).
    """
    app = web.Application()
    app[CONFIG] = cfg
    app[STORAGE] = storage
    app[STATS] = stats
    app[AUTH] = TokenAuth(storage, cfg.http.admin_token)
    app[GAP_SUMMARY] = {"count": 0, "missing": 0, "nodes": {}, "refreshed_ms": None}
    known = frozenset(n.node for n in cfg.nodes)
    app[METRICS] = new_registry(
        CollectorMetrics(stats, cfg.instance_id(), lambda: known),
        FleetMetrics(storage, lambda: app[GAP_SUMMARY]))
    add_routes(app, ROUTES)
    if collector is not None:
        app[COLLECTOR] = collector
        app.cleanup_ctx.append(_collector_ctx)
    app.cleanup_ctx.append(nodes.gap_refresher)
    return app
