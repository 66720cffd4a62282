"""Pure routing: which routes hear about one incident notification, at which local time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from central.alerts.incidents import rank
from central.notify.config import RouteSection


def local_minutes(now_ms: int, tz: str) -> int:
    """Minutes since local midnight in timezone tz."""
    dt = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(ZoneInfo(tz))
    return dt.hour * 60 + dt.minute


def in_hours(spec: str, minutes: int) -> bool:
    """True if minutes-of-day lies in 'HH:MM-HH:MM' (a range may wrap past midnight)."""
    a, b = spec.split("-")
    lo = int(a[:2]) * 60 + int(a[3:])
    hi = int(b[:2]) * 60 + int(b[3:])
    return lo <= minutes < hi if lo <= hi else minutes >= lo or minutes < hi


def matches(route: RouteSection, inc: dict[str, Any], severity: str, minutes: int) -> bool:
    """The route's filters (severity, site, site kind, active hours) accept the incident."""
    if rank(severity) < rank(route.min_severity):
        return False
    if route.sites and inc["site"] not in route.sites:
        return False
    if route.site_kinds and inc.get("site_kind") not in route.site_kinds:
        return False
    return route.active_hours is None or in_hours(route.active_hours, minutes)


def quiet(route: RouteSection, severity: str, minutes: int) -> bool:
    """True if quiet hours hold this message back (below quiet_min_severity, inside them)."""
    return (route.quiet_hours is not None and in_hours(route.quiet_hours, minutes)
            and rank(severity) < rank(route.quiet_min_severity))


def pick(routes: Sequence[RouteSection], inc: dict[str, Any], state: str, severity: str,
         now_ms: int, tz: str, announced_to: Iterable[str]) -> list[tuple[str, str]]:
    """(route id, 'pending' or 'skipped') for every route the message concerns.

    'opened'/'escalated' go to the routes whose filters match now ('skipped' in quiet hours);
    'resolved' goes to exactly the routes that were told of the incident (``announced_to``),
    so each route hears one opening and one resolution.
    """
    if state == "resolved":
        told = set(announced_to)
        return [(r.id, "pending") for r in routes if r.id in told]
    minutes = local_minutes(now_ms, tz)
    return [(r.id, "skipped" if quiet(r, severity, minutes) else "pending")
            for r in routes if matches(r, inc, severity, minutes)]
