"""GET /metrics: the Prometheus text of every metrics source the app was built with.

A source is ``async (app) -> str``: complete lines of text format 0.0.4. The composition root
(central.assemble) lists them; ``central.api.app.CORE_METRICS`` are the API's own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from central.api.state import CONFIG, STATS
from central.collector import metrics as collector_metrics

MetricSource = Callable[[web.Application], Awaitable[str]]
METRIC_SOURCES: web.AppKey[tuple[MetricSource, ...]] = web.AppKey("metric_sources")


async def collector_lines(app: web.Application) -> str:
    """The collector's counters (central.collector.metrics)."""
    return collector_metrics.render(app[STATS].snapshot(), app[CONFIG].instance_id())


async def prometheus(request: web.Request) -> web.Response:
    """Prometheus text format (open, like node_exporter: counters only, no secrets)."""
    app = request.app
    body = "".join([await source(app) for source in app[METRIC_SOURCES]])
    return web.Response(body=body.encode(), headers={
        "Content-Type": "text/plain; version=0.0.4; charset=utf-8",
        "X-Content-Type-Options": "nosniff"})
