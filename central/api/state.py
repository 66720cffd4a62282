"""The app's typed shared state (``web.AppKey``): config, storage, collector, /metrics sources."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from central.collector.service import Collector
from central.collector.stats import Stats
from central.config import CentralConfig
from central.storage.base import Storage

CONFIG = web.AppKey("config", CentralConfig)
STORAGE = web.AppKey("storage", Storage)
STATS = web.AppKey("stats", Stats)
COLLECTOR = web.AppKey("collector", Collector)
#: Delivery gaps after the grace period, refreshed in the background (central.api.nodes).
GAP_SUMMARY = web.AppKey("gap_summary", dict)

#: A /metrics source: complete lines of Prometheus text format 0.0.4 about one feature.
MetricSource = Callable[[web.Application], Awaitable[str]]
#: The sources /metrics concatenates, in order (central.assemble lists them).
METRIC_SOURCES: web.AppKey[tuple[MetricSource, ...]] = web.AppKey("metric_sources")


def grace_ms(app: web.Application) -> int:
    """The configured gap grace period in milliseconds."""
    return int(app[CONFIG].gap_grace_s * 1000)
