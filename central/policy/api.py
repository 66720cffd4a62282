"""GET /api/v1/policy: the leader's latest throttling decisions with readable reasons (EN + ID)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from central.api.auth import Route, add_routes
from central.api.jsonout import json_response
from central.commands.leader import LEASE_NAME
from central.commands.store import CommandStoreError
from central.policy.loop import PolicyLoop
from central.policy.model import Schedule, SiteInfo, ThrottleDecision
from central.policy.schedule import period
from protocol.messages import Command

POLICY_LOOP = web.AppKey("policy_loop", PolicyLoop)
POLICY_SITES: web.AppKey[dict[str, SiteInfo]] = web.AppKey("policy_sites")
POLICY_SCHEDULE = web.AppKey("policy_schedule", Schedule)


def decision_view(d: ThrottleDecision, site: SiteInfo | None, cmd: Command | None = None
                  ) -> dict[str, Any]:
    """One decision as the API shows it (throttle None = no throttle; command = latest sent)."""
    t = d.throttle
    throttle = None if t is None else {
        "down_kbps": t.down_kbps, "up_kbps": t.up_kbps,
        "per_client_down_kbps": t.per_client_down_kbps,
        "per_client_up_kbps": t.per_client_up_kbps}
    return {"node": d.node, "site": site.site if site else None,
            "role": site.role if site else None, "upstream": site.upstream if site else None,
            "throttle": throttle, "since_ms": d.since_ms, "epoch": d.epoch,
            "command": None if cmd is None else {"cmd_id": cmd.cmd_id, "kind": cmd.kind,
                                                 "version": cmd.version,
                                                 "issued_at_ms": cmd.issued_at_ms},
            "reason": {"code": d.reason.code, "en": d.reason.en, "id": d.reason.id,
                       "params": dict(d.reason.params)}}


def _leader_info(loop: PolicyLoop) -> dict[str, Any] | None:
    try:
        return loop.leader.store.lease_info(LEASE_NAME)
    except CommandStoreError:
        return None


async def get_policy(request: web.Request) -> web.Response:
    """Latest decisions of this instance's policy loop, and who leads with which epoch."""
    app = request.app
    loop, sites = app[POLICY_LOOP], app[POLICY_SITES]
    lease = await asyncio.to_thread(_leader_info, loop)
    state, leading = loop.state, loop.leader.is_leader
    at = loop.last_tick_ms
    groups = {name: {"congested": g.congested, "level": g.level, "rtt_rise_ms": g.rtt_rise_ms,
                     "loss_pct": g.loss_pct} for name, g in sorted(state.groups.items())}
    cmds = dict(loop.commands)
    decisions = [decision_view(d, sites.get(n), cmds.get(n))
                 for n, d in sorted(state.decisions.items())] if leading else []
    return json_response({
        "enabled": loop.inputs is not None, "instance": loop.leader.instance,
        "leader": leading, "epoch": loop.leader.epoch if leading else None,
        "leader_instance": lease["holder"] if lease else None,
        "leader_epoch": lease["epoch"] if lease else None,
        "evaluated_at_ms": at if leading else None,
        "period": period(at, app[POLICY_SCHEDULE]) if at is not None and leading else None,
        "upstreams": groups if leading else {}, "decisions": decisions})


ROUTES: list[Route] = [("GET", "/api/v1/policy", get_policy, "viewer")]


def setup_policy_api(app: web.Application, loop: PolicyLoop, sites: dict[str, SiteInfo],
                     schedule: Schedule) -> None:
    """Add GET /api/v1/policy (viewer) for this app's policy loop."""
    app[POLICY_LOOP], app[POLICY_SITES], app[POLICY_SCHEDULE] = loop, sites, schedule
    add_routes(app, ROUTES)
