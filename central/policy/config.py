"""Fleet sections of central's config: sites, upstream circuits, policy, park events, overrides.

Strict like the rest of the config (``Strict``: unknown keys fail with their name; central's
config builds on it). Cross-references (a site's upstream, an event's site, an override's
node/site) are checked by ``check_fleet``; ``central.policy.fleet`` turns the sections into
the engine's inputs.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Annotated, Literal, Protocol

from pydantic import Field, field_validator, model_validator

from protocol.config import Strict, valid_id

Kbps = Annotated[int, Field(gt=0, le=100_000_000)]
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_when(value: str, tz: dt.tzinfo) -> int:
    """ISO date-time -> epoch ms; a time without an offset is local time at the sites."""
    try:
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected an ISO date-time like 2026-08-17T19:00+07:00, got {value!r}"
                         ) from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=tz)
    return int(t.timestamp() * 1000)


def _iso(value: str) -> str:
    parse_when(value, dt.UTC)
    return value


class SiteSection(Strict):
    """One park or office: contracted capacity and the upstream circuit it hangs off."""

    id: str
    name: str = ""
    kind: Literal["park", "office"]
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None
    down_kbps: Kbps
    up_kbps: Kbps
    upstream: str
    nodes: list[str] | None = None  # default: the registry's nodes of this site, else [id]
    floor_down_kbps: Kbps | None = None  # default: [policy] floors
    floor_up_kbps: Kbps | None = None
    floor_per_client_kbps: Kbps | None = None

    _ids = field_validator("id", "upstream")(valid_id)

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if not v:
                raise ValueError("must list at least one node (or be left out)")
            for n in v:
                valid_id(n)
        return v


class UpstreamSection(Strict):
    """A paid ISP circuit shared by the sites naming it."""

    id: str
    name: str = ""
    down_kbps: Kbps
    up_kbps: Kbps

    _ids = field_validator("id")(valid_id)


class PolicySection(Strict):
    """The leader's throttling policy: cadence, floors, office hours, holidays, tunables."""

    enabled: bool = True
    interval_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    leader_ttl_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    lease_s: Annotated[int, Field(ge=30, le=86400)] = 900  # throttle lease sent to nodes
    floor_down_kbps: Kbps = 2000
    floor_up_kbps: Kbps = 1000
    floor_per_client_kbps: Kbps = 512
    timezone: str = "Asia/Pontianak"  # Sampit, Central Kalimantan: WIB (UTC+7)
    office_start: str = "07:30"
    office_end: str = "16:00"
    holidays: list[dt.date] = []
    event_weight: Annotated[float, Field(gt=0, le=100)] = 4.0
    hold_s: Annotated[float, Field(ge=0)] = 300.0
    renew_every_s: Annotated[float, Field(gt=0)] = 300.0
    dead_band: Annotated[float, Field(ge=0, lt=1)] = 0.15
    overcommit: Annotated[float, Field(gt=0, le=10)] = 1.5
    crowd_on: Annotated[int, Field(ge=1)] = 30
    crowd_off: Annotated[int, Field(ge=0)] = 20

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (e.g. Asia/Pontianak, Asia/Jakarta)"
                             ) from None
        return v

    @field_validator("office_start", "office_end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError(f"expected HH:MM, got {v!r}")
        return v

    @model_validator(mode="after")
    def _order(self) -> PolicySection:
        if self.office_start >= self.office_end:
            raise ValueError("office_start must be before office_end")
        if self.crowd_off >= self.crowd_on:
            raise ValueError("crowd_off must be below crowd_on")
        if self.interval_s >= self.leader_ttl_s / 2:
            raise ValueError(f"interval_s={self.interval_s:g} must be below half of "
                             f"leader_ttl_s={self.leader_ttl_s:g}")
        return self

    def tz(self) -> zoneinfo.ZoneInfo:
        """The sites' time zone."""
        return zoneinfo.ZoneInfo(self.timezone)


class EventSection(Strict):
    """A public event in a park: its nodes get the event share from start to end."""

    site: str
    name: str = "event"
    start: str
    end: str
    weight: float | None = None

    _iso = field_validator("start", "end")(_iso)

    @field_validator("weight")
    @classmethod
    def _weight(cls, v: float | None) -> float | None:
        if v is not None:
            raise ValueError("per-event weights are not supported yet; set policy.event_weight")
        return v


class OverrideSection(Strict):
    """An operator's fixed throttle (or none: no down/up = unthrottled) for a node or site."""

    node: str | None = None
    site: str | None = None
    until: str
    down_kbps: Kbps | None = None
    up_kbps: Kbps | None = None
    per_client_down_kbps: Kbps | None = None
    per_client_up_kbps: Kbps | None = None
    operator: str = ""

    _iso = field_validator("until")(_iso)

    @model_validator(mode="after")
    def _target(self) -> OverrideSection:
        if (self.node is None) == (self.site is None):
            raise ValueError("give exactly one of node or site")
        if (self.down_kbps is None) != (self.up_kbps is None):
            raise ValueError("give both down_kbps and up_kbps, or neither (= unthrottled)")
        if self.down_kbps is None and (self.per_client_down_kbps or self.per_client_up_kbps):
            raise ValueError("per-client limits need down_kbps and up_kbps")
        return self


class NodeEntry(Protocol):
    """A registered node as the fleet checks see it."""

    @property
    def node(self) -> str:
        """The node id."""

    @property
    def site(self) -> str:
        """The node's site id."""


class FleetConfig(Protocol):
    """The parts of central's config the fleet checks read."""

    @property
    def policy(self) -> PolicySection:
        """[policy]"""

    @property
    def sites(self) -> Sequence[SiteSection]:
        """[[sites]]"""

    @property
    def upstreams(self) -> Sequence[UpstreamSection]:
        """[[upstreams]]"""

    @property
    def events(self) -> Sequence[EventSection]:
        """[[events]]"""

    @property
    def overrides(self) -> Sequence[OverrideSection]:
        """[[overrides]]"""

    @property
    def nodes(self) -> Sequence[NodeEntry]:
        """The node registry."""


def site_nodes(registry: Iterable[NodeEntry], site: SiteSection) -> list[str]:
    """The node ids of one site: its ``nodes`` list, else the registry's, else the site id."""
    if site.nodes is not None:
        return list(site.nodes)
    return [n.node for n in registry if n.site == site.id] or [site.id]


def first_duplicate(ids: Sequence[str]) -> str | None:
    """The first id that was listed before, or None."""
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            return i
        seen.add(i)
    return None


def check_fleet(cfg: FleetConfig, source: str) -> None:
    """Cross-references of the fleet sections; raises ValueError naming the key."""
    ups = {u.id for u in cfg.upstreams}
    sites = {s.id: s for s in cfg.sites}
    for key, ids in (("upstreams", [u.id for u in cfg.upstreams]),
                     ("sites", [s.id for s in cfg.sites]),
                     ("sites.nodes", [n for s in cfg.sites for n in site_nodes(cfg.nodes, s)])):
        dup = first_duplicate(ids)
        if dup is not None:
            raise ValueError(f"{source}: {key}: {dup!r} listed twice")
    for i, s in enumerate(cfg.sites):
        if s.upstream not in ups:
            raise ValueError(f"{source}: sites.{i}.upstream: unknown upstream {s.upstream!r}")
    tz = cfg.policy.tz()
    for i, e in enumerate(cfg.events):
        site = sites.get(e.site)
        if site is None or site.kind != "park":
            raise ValueError(f"{source}: events.{i}.site: {e.site!r} is not a configured park")
        if parse_when(e.end, tz) <= parse_when(e.start, tz):
            raise ValueError(f"{source}: events.{i}.end: must be after start")
    registered = {n.node: n.site for n in cfg.nodes}
    for i, s in enumerate(cfg.sites):
        for n in s.nodes or []:
            if registered.get(n, s.id) != s.id:
                raise ValueError(f"{source}: sites.{i}.nodes: {n!r} is registered at site "
                                 f"{registered[n]!r}")
    nodes = {n for s in cfg.sites for n in site_nodes(cfg.nodes, s)}
    for i, o in enumerate(cfg.overrides):
        if o.site is not None and o.site not in sites:
            raise ValueError(f"{source}: overrides.{i}.site: unknown site {o.site!r}")
        if o.node is not None and o.node not in nodes:
            raise ValueError(f"{source}: overrides.{i}.node: {o.node!r} is in no site")


def unregistered_site_nodes(cfg: FleetConfig) -> list[tuple[str, SiteSection]]:
    """(node, site) of nodes named only in a [[sites]] nodes list, not in the registry."""
    known = {n.node for n in cfg.nodes}
    return [(n, s) for s in cfg.sites for n in site_nodes(cfg.nodes, s)
            if n not in known and s.nodes]
