"""From central's fleet config to the policy engine's inputs: sites per node, schedule, overrides.

Glue between the config (central.config, central.policy.config) and the pure engine: the
engine modules never import it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from central.config import CentralConfig
from central.policy.config import parse_when, site_nodes
from central.policy.model import (
    Override,
    ParkEvent,
    PolicyConfig,
    Schedule,
    SiteInfo,
    Throttle,
    Upstream,
)


@dataclass(frozen=True)
class FleetPolicy:
    """Everything the policy loop needs from the config (overrides are evaluated per tick)."""

    sites: Mapping[str, SiteInfo]  # by node id
    upstreams: Mapping[str, Upstream]
    schedule: Schedule
    overrides: Sequence[Override]
    cfg: PolicyConfig


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def schedule(cfg: CentralConfig) -> Schedule:
    """Office hours, holidays and park events (one ParkEvent per node of the park)."""
    p, tz = cfg.policy, cfg.policy.tz()
    offset = tz.utcoffset(dt.datetime(2026, 1, 1)) or dt.timedelta(0)  # WIB/WITA/WIT: no DST
    sites = {s.id: s for s in cfg.sites}
    events = tuple(ParkEvent(node, parse_when(e.start, tz), parse_when(e.end, tz), e.name)
                   for e in cfg.events for node in site_nodes(cfg.nodes, sites[e.site]))
    return Schedule(_minutes(p.office_start), _minutes(p.office_end),
                    int(offset.total_seconds() // 60),
                    frozenset(d.isoformat() for d in p.holidays), events)


def fleet_policy(cfg: CentralConfig) -> FleetPolicy:
    """The engine's view of the configured fleet (a site's contract is split over its nodes)."""
    p, tz = cfg.policy, cfg.policy.tz()
    sites: dict[str, SiteInfo] = {}
    for s in cfg.sites:
        nodes = site_nodes(cfg.nodes, s)
        for node in nodes:
            sites[node] = SiteInfo(
                node, s.id, s.kind, max(1, s.down_kbps // len(nodes)),
                max(1, s.up_kbps // len(nodes)), s.upstream,
                s.floor_down_kbps or p.floor_down_kbps, s.floor_up_kbps or p.floor_up_kbps,
                s.floor_per_client_kbps or p.floor_per_client_kbps)
    overrides = []
    for o in cfg.overrides:
        t = None if o.down_kbps is None or o.up_kbps is None else Throttle(
            o.down_kbps, o.up_kbps, o.per_client_down_kbps, o.per_client_up_kbps)
        targets = [o.node] if o.node else [n for n, si in sites.items() if si.site == o.site]
        overrides += [Override(n, parse_when(o.until, tz), t, o.operator) for n in targets]
    base = PolicyConfig()
    pcfg = PolicyConfig(
        hold_ms=int(p.hold_s * 1000), dead_band=p.dead_band, overcommit=p.overcommit,
        crowd_on=p.crowd_on, crowd_off=p.crowd_off, lease_s=p.lease_s,
        renew_every_ms=int(p.renew_every_s * 1000),
        weights={**base.weights, "park/event": p.event_weight})
    return FleetPolicy(sites, {u.id: Upstream(u.id, u.down_kbps, u.up_kbps)
                               for u in cfg.upstreams}, schedule(cfg), tuple(overrides), pcfg)
