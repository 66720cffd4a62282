"""Fleet sections of central's config: sites, upstream circuits, policy, park events, overrides.

Strict like the rest of the config (unknown keys fail with their name). Cross-references
(a site's upstream, an event's site, an override's node/site) are checked by ``check_fleet``.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from protocol.topics import is_valid_id

Kbps = Annotated[int, Field(gt=0, le=100_000_000)]
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _id(value: str) -> str:
    if not is_valid_id(value):
        raise ValueError("must be 1-64 of A-Z a-z 0-9 _ . - without '/', '+', '#'")
    return value


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


class SiteSection(_Strict):
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

    _ids = field_validator("id", "upstream")(_id)

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if not v:
                raise ValueError("must list at least one node (or be left out)")
            for n in v:
                _id(n)
        return v


class UpstreamSection(_Strict):
    """A paid ISP circuit shared by the sites naming it."""

    id: str
    name: str = ""
    down_kbps: Kbps
    up_kbps: Kbps

    _ids = field_validator("id")(_id)


class PolicySection(_Strict):
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


class EventSection(_Strict):
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


class OverrideSection(_Strict):
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
