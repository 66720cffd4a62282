"""The app's typed shared state (``web.AppKey``): config, storage, collector, /metrics registry."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry

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

#: The app's own prometheus-client registry: /metrics renders it; features' collectors are
#: registered by central.assemble (never the process-global default registry).
METRICS = web.AppKey("metrics", CollectorRegistry)


def grace_ms(app: web.Application) -> int:
    """The configured gap grace period in milliseconds."""
    return int(app[CONFIG].gap_grace_s * 1000)
