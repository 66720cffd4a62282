"""The aiohttp app factory: the API's own routes (/healthz, /metrics, the nodes read API),
typed state, and the collector's lifetime.

/metrics concatenates the app's metric sources (``async (app) -> str``, Prometheus text
format 0.0.4); the composition root (central.assemble) lists them, ``CORE_METRICS`` are the
API's own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from central.api import nodes
from central.api.auth import AUTH, Route, TokenAuth, add_routes
from central.api.jsonout import json_response
from central.api.state import (
    COLLECTOR,
    CONFIG,
    GAP_SUMMARY,
    METRIC_SOURCES,
    STATS,
    STORAGE,
    MetricSource,
)
from central.collector import metrics as collector_metrics
from central.collector.service import Collector
from central.collector.stats import Stats
from central.config import CentralConfig
from central.storage.base import Storage


async def healthz(request: web.Request) -> web.Response:
    """Liveness, and whether the collector is connected to the broker."""
    stats = request.app[STATS]
    return json_response({"ok": True, "instance": request.app[CONFIG].instance_id(),
                              "mqtt_connected": stats.connected})


async def collector_lines(app: web.Application) -> str:
    """The collector's counters (central.collector.metrics)."""
    return collector_metrics.counter_lines(app[STATS].snapshot(), app[CONFIG].instance_id())


async def prometheus(request: web.Request) -> web.Response:
    """Prometheus text format (open, like node_exporter: counters only, no secrets)."""
    app = request.app
    body = "".join([await source(app) for source in app[METRIC_SOURCES]])
    return web.Response(body=body.encode(), headers={
        "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
        "X-Content-Type-Options": "nosniff"})


#: The /metrics sources of the API alone (central.assemble adds the features').
CORE_METRICS: tuple[MetricSource, ...] = (collector_lines, nodes.metric_lines)

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
             collector: Collector | None = None,
             metrics: Sequence[MetricSource] = CORE_METRICS) -> web.Application:
    """Build the app; if a collector is given it runs for exactly the app's lifetime.

    ``metrics`` are the sources of /metrics, in order (central.assemble adds the features').
    """
    app = web.Application()
    app[CONFIG] = cfg
    app[STORAGE] = storage
    app[STATS] = stats
    app[AUTH] = TokenAuth(storage, cfg.http.admin_token)
    app[GAP_SUMMARY] = {"count": 0, "missing": 0, "nodes": {}, "refreshed_ms": None}
    app[METRIC_SOURCES] = tuple(metrics)
    add_routes(app, ROUTES)
    if collector is not None:
        app[COLLECTOR] = collector
        app.cleanup_ctx.append(_collector_ctx)
    app.cleanup_ctx.append(nodes.gap_refresher)
    return app
