"""Build the whole central process: collector, API, commands, leader/policy loop (and NOC)."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from central.alerts_api import setup_alerts
from central.collector import Collector
from central.commands_api import setup_commands, sqlite_path
from central.config import CentralConfig
from central.leader import LeaderLease
from central.policy_loop import PolicyLoop
from central.stats import Stats
from central.storage import Storage
from central.storage.base import Incoming
from central.web import make_app
from protocol.messages import Birth, CommandAck

log = logging.getLogger(__name__)


def _command_hooks(svc: Any) -> Any:
    def on_commit(inc: Incoming) -> None:
        if isinstance(inc.msg, CommandAck):
            svc.on_ack(inc.msg, inc.received_ms)
        elif isinstance(inc.msg, Birth):
            svc.on_birth(inc.msg)
    return on_commit


def build_app(cfg: CentralConfig, storage: Storage, stats: Stats,
              collector: Collector | None = None, *, with_policy: bool = True) -> web.Application:
    """The complete central aiohttp app; the collector and services live as long as the app."""
    collector = collector or Collector(cfg, storage, stats)
    app = make_app(cfg, storage, stats, collector)
    svc = setup_commands(app, cfg)
    collector.add_listener(_command_hooks(svc))
    lease = LeaderLease(svc.store, cfg.instance_id(), ttl_s=30)
    if with_policy:
        loop = PolicyLoop(svc, lease, inputs=None, interval_s=10)
        app.cleanup_ctx.append(loop.lifetime)
    setup_alerts(app, storage, sqlite_path(cfg.storage.url), gap_grace_s=cfg.gap_grace_s,
                 is_leader=(lambda: lease.is_leader) if with_policy else (lambda: True))
    return app
