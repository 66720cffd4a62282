"""Build the whole central process: collector, API, commands, leader/policy loop (and NOC).

The composition root: the only module that knows every feature. Features never import each
other's setup; their routes and /metrics collectors come together here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from central.alerts.api import INCIDENTS, setup_alerts
from central.alerts.incidents import IncidentConfig, SiteInfo
from central.api.app import make_app
from central.api.client_addr import TRUSTED_PROXIES, trusted_networks
from central.api.state import METRICS
from central.clock import wall_ms
from central.collector.service import Collector
from central.collector.stats import Stats
from central.commands.api import setup_commands
from central.commands.gap_resync import GapResync
from central.commands.leader import LeaderLease
from central.config import CentralConfig
from central.enroll.api import setup_enroll
from central.metrics.alerts import AlertMetrics, IncidentMetrics
from central.metrics.commands import CommandMetrics
from central.metrics.notify import NotifyMetrics
from central.metrics.retention import RetentionMetrics
from central.noc import NocSettings, setup_noc
from central.noc.install import setup_install
from central.notify.setup import SENDER, setup_notify
from central.policy.api import setup_policy_api
from central.policy.fleet import fleet_policy
from central.policy.loop import PolicyLoop, inputs_from
from central.storage.base import Incoming, Storage
from central.storage.location import state_path
from central.storage.retention import Retention, RetentionPolicy
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
              collector: Collector | None = None, *, with_policy: bool = True,
              policy_clock_ms: Callable[[], int] = wall_ms) -> web.Application:
    """The complete central aiohttp app; the collector and services live as long as the app.

    With [policy] enabled and sites configured, the leader runs the throttling policy on the
    stored samples (``policy_clock_ms`` = the policy's clock, injectable for tests/demos).
    Raises ConfigError when there is no SQLite file for the state tables (storage.location)."""
    state_path(cfg)  # fail before anything starts
    collector = collector or Collector(cfg, storage, stats)
    app = make_app(cfg, storage, stats, collector)  # /metrics: collector counters + fleet
    app[TRUSTED_PROXIES] = trusted_networks(cfg.http.trusted_proxies)  # X-Forwarded-For
    svc = setup_commands(app, cfg)
    collector.add_listener(_command_hooks(svc))
    lease = LeaderLease(svc.store, cfg.instance_id(), ttl_s=cfg.policy.leader_ttl_s)
    if with_policy:
        fleet = fleet_policy(cfg)
        inputs = None
        if cfg.policy.enabled and fleet.sites:
            inputs = inputs_from(storage.list_nodes, fleet.sites, fleet.upstreams,
                                 fleet.schedule, fleet.overrides)
            log.info("policy engine on: %d node(s) at %d site(s), %d upstream(s)",
                     len(fleet.sites), len(cfg.sites), len(fleet.upstreams))
        else:
            log.info("policy engine off (%s): leader renews operator throttles only",
                     "no [[sites]]" if cfg.policy.enabled else "[policy] enabled = false")
        loop = PolicyLoop(svc, lease, inputs=inputs, interval_s=cfg.policy.interval_s,
                          cfg=fleet.cfg, clock_ms=policy_clock_ms)
        app.cleanup_ctx.append(loop.lifetime)
        setup_policy_api(app, loop, dict(fleet.sites), fleet.schedule)
    leads = (lambda: lease.is_leader) if with_policy else (lambda: True)
    hook, wake = setup_notify(app, cfg.notify, state_path(cfg), storage, cfg.instance_id(),
                              leads)
    alerts = setup_alerts(app, storage, state_path(cfg), gap_grace_s=cfg.gap_grace_s,
                          is_leader=leads, sites=site_infos(cfg), on_notify=hook,
                          on_queued=wake,
                          incident_cfg=IncidentConfig(cfg.notify.settle_s,
                                                      cfg.notify.resolve_hold_s))
    app[METRICS].register(CommandMetrics(svc.store))  # command stages
    app[METRICS].register(AlertMetrics(alerts))
    app[METRICS].register(IncidentMetrics(app[INCIDENTS]))
    if SENDER in app:
        app[METRICS].register(NotifyMetrics(app[SENDER]))
    app.cleanup_ctx.append(_epoch_publisher(collector, lease))
    resync = GapResync(storage, svc, (lambda: lease.is_leader) if with_policy else (lambda: True),
                       grace_ms=int(cfg.gap_grace_s * 1000))
    app.cleanup_ctx.append(resync.lifetime)
    retention = Retention(storage, retention_policy(cfg))
    app[METRICS].register(RetentionMetrics(retention.stats))
    app.cleanup_ctx.append(_retention_task(retention, leads))
    setup_enroll(app, floors=storage.node_floors)  # a re-seeded node continues above these
    setup_noc(app, NocSettings.from_env())
    setup_install(app)  # GET /install/{node}: the label's QR code (KOTANET_DEPLOYMENT)
    return app


def site_infos(cfg: CentralConfig) -> dict[str, SiteInfo]:
    """Each site's shared upstream and kind, for incident correlation ([[sites]], else the
    registry's role: a site without [[sites]] is its own upstream)."""
    names = {u.id: u.name or u.id for u in cfg.upstreams}
    out = {s.id: SiteInfo(s.upstream, names.get(s.upstream, s.upstream), s.kind)
           for s in cfg.sites}
    for n in cfg.nodes:
        out.setdefault(n.site, SiteInfo(None, "", n.role))
    return out


def retention_policy(cfg: CentralConfig) -> RetentionPolicy:
    """The [storage] retention keys as the retention task's policy."""
    st = cfg.storage
    return RetentionPolicy(raw_days=st.raw_retention_days, rollup_days=st.rollup_retention_days,
                           batch_rows=st.retention_batch_rows,
                           pause_s=st.retention_pause_ms / 1000,
                           interval_s=float(st.retention_interval_s))


def _retention_task(retention: Retention, leads: Callable[[], bool]) -> Callable[
        [web.Application], AsyncIterator[None]]:
    """Run retention passes while the app lives (the leader only); stop a pass at shutdown."""
    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(retention.run(leads))
        yield
        retention.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return lifetime


def _epoch_publisher(collector: Collector, lease: LeaderLease) -> Callable[
        [web.Application], AsyncIterator[None]]:
    """Keep the leader epoch in this instance's retained central state (0 = not leader)."""
    async def run() -> None:
        while True:
            collector.set_epoch(lease.epoch or 0 if lease.is_leader else 0)
            await asyncio.sleep(2.0)

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return lifetime
