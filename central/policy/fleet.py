"""From central's fleet config to the policy engine's inputs: sites per node, schedule, overrides."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from central.config import CentralConfig, ConfigError, RegistryNode
from central.fleet_config import SiteSection, parse_when
from central.policy import (
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


def site_nodes(cfg: CentralConfig, site: SiteSection) -> list[str]:
    """The node ids of one site: its ``nodes`` list, else the registry's, else the site id."""
    if site.nodes is not None:
        return list(site.nodes)
    return [n.node for n in cfg.nodes if n.site == site.id] or [site.id]


def _dupes(ids: Sequence[str]) -> str | None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            return i
        seen.add(i)
    return None


def check_fleet(cfg: CentralConfig, source: str) -> None:
    """Cross-references of the fleet sections; raises ConfigError naming the key."""
    ups = {u.id for u in cfg.upstreams}
    sites = {s.id: s for s in cfg.sites}
    for key, ids in (("upstreams", [u.id for u in cfg.upstreams]),
                     ("sites", [s.id for s in cfg.sites]),
                     ("sites.nodes", [n for s in cfg.sites for n in site_nodes(cfg, s)])):
        dup = _dupes(ids)
        if dup is not None:
            raise ConfigError(f"{source}: {key}: {dup!r} listed twice")
    for i, s in enumerate(cfg.sites):
        if s.upstream not in ups:
            raise ConfigError(f"{source}: sites.{i}.upstream: unknown upstream {s.upstream!r}")
    tz = cfg.policy.tz()
    for i, e in enumerate(cfg.events):
        site = sites.get(e.site)
        if site is None or site.kind != "park":
            raise ConfigError(f"{source}: events.{i}.site: {e.site!r} is not a configured park")
        if parse_when(e.end, tz) <= parse_when(e.start, tz):
            raise ConfigError(f"{source}: events.{i}.end: must be after start")
    registered = {n.node: n.site for n in cfg.nodes}
    for i, s in enumerate(cfg.sites):
        for n in s.nodes or []:
            if registered.get(n, s.id) != s.id:
                raise ConfigError(f"{source}: sites.{i}.nodes: {n!r} is registered at site "
                                  f"{registered[n]!r}")
    nodes = {n for s in cfg.sites for n in site_nodes(cfg, s)}
    for i, o in enumerate(cfg.overrides):
        if o.site is not None and o.site not in sites:
            raise ConfigError(f"{source}: overrides.{i}.site: unknown site {o.site!r}")
        if o.node is not None and o.node not in nodes:
            raise ConfigError(f"{source}: overrides.{i}.node: {o.node!r} is in no site")


def register_site_nodes(cfg: CentralConfig) -> None:
    """Add nodes named only in [[sites]] nodes lists to the registry (role = the site's kind)."""
    known = {n.node for n in cfg.nodes}
    extra = [RegistryNode(node=n, site=s.id, role=s.kind, name=s.name)
             for s in cfg.sites for n in site_nodes(cfg, s) if n not in known and s.nodes]
    if extra:
        cfg.nodes = [*cfg.nodes, *extra]


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def schedule(cfg: CentralConfig) -> Schedule:
    """Office hours, holidays and park events (one ParkEvent per node of the park)."""
    p, tz = cfg.policy, cfg.policy.tz()
    offset = tz.utcoffset(dt.datetime(2026, 1, 1)) or dt.timedelta(0)  # WIB/WITA/WIT: no DST
    sites = {s.id: s for s in cfg.sites}
    events = tuple(ParkEvent(node, parse_when(e.start, tz), parse_when(e.end, tz), e.name)
                   for e in cfg.events for node in site_nodes(cfg, sites[e.site]))
    return Schedule(_minutes(p.office_start), _minutes(p.office_end),
                    int(offset.total_seconds() // 60),
                    frozenset(d.isoformat() for d in p.holidays), events)


def fleet_policy(cfg: CentralConfig) -> FleetPolicy:
    """The engine's view of the configured fleet (a site's contract is split over its nodes)."""
    p, tz = cfg.policy, cfg.policy.tz()
    sites: dict[str, SiteInfo] = {}
    for s in cfg.sites:
        nodes = site_nodes(cfg, s)
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
