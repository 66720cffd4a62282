"""Pure incident correlation: the set of active alerts in, incidents and their events out.

No I/O and no clock: ``correlate`` is called every evaluation round with every alert that is
open or acknowledged (the alerts table is the truth, so a crash between writing the alerts and
the incidents loses nothing: the next round reconciles), the incidents as they stand, the
maintenance windows and the time. Grouping (the root cause):

- a node that is offline owns one incident; its uplink and delivery-gap alerts join it as
  *suppressed* members instead of raising their own;
- uplink alerts (backup uplink, degraded uplink) of the nodes behind one shared upstream are one
  incident keyed by the upstream ("upstream X down: 7 nodes on backup");
- when ``upstream_min_nodes`` (2) or more nodes behind one upstream are offline at once, their
  offline alerts are that upstream's incident too ("upstream X unreachable: 5 nodes
  offline"); a node incident of theirs not yet announced folds into it;
- every other alert is its node's incident.

An incident stays active while any member is active and for ``resolve_hold_s`` after the last
member cleared; an alert that (re)opens meanwhile joins it again, so a flapping node is one
incident. An alert that opens inside a maintenance window of its node or site is a member
"in maintenance". Notifications: ``notify`` events, "opened" once the incident has settled for
``settle_s`` (late members of a shared failure join first, so the message counts them all),
"escalated" only when its severity rises after that, and "resolved" only if it was announced.
An incident opened by an alert in maintenance is in state "maintenance" and announces nothing;
once one of its active members is outside every window (the window ended, or an alert from
elsewhere joined) it becomes open and is announced like a new one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from central.alerts.model import SEVERITIES

INCIDENT_STATES: tuple[str, ...] = ("open", "acknowledged", "maintenance", "resolved")
UPSTREAM_KINDS = frozenset({"backup_uplink", "uplink_degraded"})
SUPPRESSED_BY_OFFLINE = frozenset({"backup_uplink", "uplink_degraded", "delivery_gap"})


def rank(severity: str) -> int:
    """Order of a severity (info < warning < critical; unknown = -1)."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


@dataclass(frozen=True)
class IncidentConfig:
    """Correlation timing in seconds."""

    settle_s: float = 60.0  # wait before announcing, so near-simultaneous alerts join first
    resolve_hold_s: float = 300.0  # clear this long before resolving (a flap rejoins)
    upstream_min_nodes: int = 2  # offline nodes behind one upstream that make it its incident


@dataclass(frozen=True)
class ActiveAlert:
    """One open or acknowledged alert as the alerts table holds it."""

    id: int
    node: str
    site: str
    kind: str
    severity: str
    opened_ms: int


@dataclass(frozen=True)
class SiteInfo:
    """What correlation knows of a site: its shared upstream (id, name) and kind."""

    upstream: str | None = None
    upstream_name: str = ""
    kind: str = ""


@dataclass(frozen=True)
class Window:
    """A maintenance window over one site or one node (site None and node None: nothing)."""

    id: int
    start_ms: int
    end_ms: int
    site: str | None = None
    node: str | None = None
    note: str = ""

    def covers(self, node: str, site: str, at_ms: int) -> bool:
        """True if the window is current at at_ms and names this node or its site."""
        if not self.start_ms <= at_ms < self.end_ms:
            return False
        return (self.node is not None and self.node == node) or (
            self.node is None and self.site is not None and self.site == site)


@dataclass(frozen=True)
class Member:
    """One alert inside an incident."""

    alert_id: int
    node: str
    kind: str
    severity: str
    opened_ms: int
    resolved_ms: int | None = None
    suppressed: bool = False
    in_maintenance: bool = False
    site: str = ""


@dataclass(frozen=True)
class Incident:
    """One incident; ``key`` is its grouping ('node:<id>' or 'upstream:<id>'), ``cause`` the
    root-cause fields the catalogue turns into a title; ``announced`` the highest severity
    that was notified ('' = not announced)."""

    key: str
    site: str
    node: str | None
    site_kind: str
    severity: str
    state: str
    opened_ms: int
    cause: dict[str, Any]
    members: tuple[Member, ...] = ()
    id: int | None = None
    resolved_ms: int | None = None
    acked_ms: int | None = None
    acked_by: str | None = None
    ack_note: str | None = None
    clear_since_ms: int | None = None
    announced: str = ""
    flaps: int = 0

    @property
    def active(self) -> bool:
        """Not resolved."""
        return self.state != "resolved"

    def live_members(self) -> list[Member]:
        """Members whose alert is still active."""
        return [m for m in self.members if m.resolved_ms is None]


@dataclass(frozen=True)
class Event:
    """A timeline entry of incident ``key``: opened, member_added, member_resolved, flap,
    maintenance_ended, escalated, merged (into another incident), resolved, or notify (detail: state opened/escalated/
    resolved and severity)."""

    key: str
    kind: str
    at_ms: int
    detail: dict[str, Any] = field(default_factory=dict)


Book = dict[str, Incident]  # active incidents by key


def upstream_of(site: str, sites: Mapping[str, SiteInfo]) -> str:
    """The shared upstream of a site (a site without one is its own upstream)."""
    info = sites.get(site)
    return info.upstream if info and info.upstream else site


def _cause(inc: Incident, sites: Mapping[str, SiteInfo]) -> dict[str, Any]:
    """The root-cause fields of an incident from its members (catalogue key in 'key')."""
    members = [m for m in inc.members if not m.suppressed] or list(inc.members)
    if inc.key.startswith("upstream:"):
        info = sites.get(inc.site) or SiteInfo()
        upstream = inc.key.split(":", 1)[1]
        on_backup = {m.node for m in members if m.kind == "backup_uplink"}
        offline = {m.node for m in members if m.kind == "offline"}
        nodes = {m.node for m in members}
        if len(nodes) == 1:
            root = min(members, key=lambda m: (-rank(m.severity), m.opened_ms, m.alert_id))
            return {"key": f"node_{root.kind}", "node": root.node, "site": root.site or inc.site,
                    "nodes": 1}
        out: dict[str, Any] = {"upstream": info.upstream_name or upstream, "site": inc.site}
        if on_backup:
            return {**out, "key": "upstream_down", "nodes": len(on_backup),
                    "offline": len(offline - on_backup)}
        if offline:
            return {**out, "key": "upstream_unreachable", "nodes": len(offline)}
        return {**out, "key": "upstream_degraded", "nodes": len(nodes)}
    root = min(members, key=lambda m: (-rank(m.severity), m.opened_ms, m.alert_id))
    suppressed = sum(1 for m in inc.members if m.suppressed)
    return {"key": f"node_{root.kind}", "node": inc.node, "site": inc.site,
            "suppressed": suppressed, "flaps": inc.flaps}


def _severity(members: Sequence[Member]) -> str:
    return max((m.severity for m in members), key=rank, default="warning")


def correlate(active: Sequence[ActiveAlert], book: Mapping[str, Incident],
              windows: Sequence[Window], sites: Mapping[str, SiteInfo], now_ms: int,
              cfg: IncidentConfig = IncidentConfig()) -> tuple[Book, list[Incident], list[Event]]:
    """One round: returns (the active incidents, incidents that resolved now, events).

    ``book`` holds the active incidents (state != resolved) by key; incidents keep their ids.
    """
    events: list[Event] = []
    new: Book = dict(book)
    by_id = {a.id: a for a in active}
    member_of = {m.alert_id: k for k, inc in new.items() for m in inc.members
                 if m.resolved_ms is None}
    offline_of = {a.node: a.id for a in active if a.kind == "offline"}
    offline_by_up: dict[str, set[str]] = {}
    for a in active:
        if a.kind == "offline":
            offline_by_up.setdefault(upstream_of(a.site, sites), set()).add(a.node)

    # members whose alert is no longer active have cleared
    for key, inc in list(new.items()):
        gone = [m for m in inc.members if m.resolved_ms is None and m.alert_id not in by_id]
        if gone:
            ids = {m.alert_id for m in gone}
            new[key] = replace(inc, members=tuple(
                replace(m, resolved_ms=now_ms) if m.alert_id in ids else m for m in inc.members))
            events += [Event(key, "member_resolved", now_ms,
                             {"alert_id": m.alert_id, "node": m.node, "kind": m.kind})
                       for m in gone]

    # new alerts join (or open) their incident; offline first so it can take the others in
    for a in sorted(active, key=lambda a: (a.kind != "offline", a.opened_ms, a.id)):
        if a.id in member_of:
            continue
        up = upstream_of(a.site, sites)
        suppressed = a.kind in SUPPRESSED_BY_OFFLINE and a.node in offline_of
        if suppressed:  # joins whatever incident holds the node's offline alert
            key = member_of[offline_of[a.node]]
        elif a.kind == "offline" and len(offline_by_up[up]) >= cfg.upstream_min_nodes:
            key = f"upstream:{up}"
        elif a.kind in UPSTREAM_KINDS:
            key = f"upstream:{up}"
        else:
            key = f"node:{a.node}"
        maint = any(w.covers(a.node, a.site, now_ms) for w in windows)
        m = Member(a.id, a.node, a.kind, a.severity, a.opened_ms, None, suppressed, maint,
                   a.site)
        found = new.get(key)
        if found is None:
            info = sites.get(a.site) or SiteInfo()
            inc = Incident(key, a.site, a.node if key.startswith("node:") else None, info.kind,
                           a.severity, "maintenance" if maint else "open", now_ms, {},
                           (m,))
            events.append(Event(key, "opened", now_ms, {"alert_id": a.id, "node": a.node,
                                                        "kind": a.kind,
                                                        "maintenance": maint}))
        else:
            flap = any(o.node == a.node and o.kind == a.kind and o.resolved_ms is not None
                       for o in found.members)
            inc = replace(found, members=(*found.members, m), clear_since_ms=None,
                          flaps=found.flaps + (1 if flap else 0))
            events.append(Event(key, "flap" if flap else "member_added", now_ms,
                                {"alert_id": a.id, "node": a.node, "kind": a.kind,
                                 "suppressed": suppressed, "maintenance": maint}))
        new[key] = inc
        member_of[a.id] = key

    resolved: list[Incident] = []
    # several nodes behind one upstream went offline: node incidents of those nodes that were
    # not announced yet fold into the upstream's incident (one message, not one per node)
    for up, offline in offline_by_up.items():
        target = new.get(f"upstream:{up}")
        if target is None or len(offline) < cfg.upstream_min_nodes:
            continue
        for node in sorted(offline):
            small = new.get(f"node:{node}")
            if small is None or small.announced or small.state == "acknowledged" or not any(
                    m.kind == "offline" for m in small.live_members()):
                continue
            target = replace(target, members=(*target.members, *small.members),
                             clear_since_ms=None)
            events += [Event(target.key, "member_added", now_ms,
                             {"alert_id": m.alert_id, "node": m.node, "kind": m.kind,
                              "suppressed": m.suppressed, "maintenance": m.in_maintenance,
                              "merged_from": small.id})
                       for m in small.live_members()]
            del new[small.key]
            if small.id is None:  # opened this round: never stored, leaves no trace
                events = [e for e in events if e.key != small.key]
            else:
                events.append(Event(small.key, "merged", now_ms, {"into": target.key}))
                resolved.append(replace(small, state="resolved", resolved_ms=now_ms))
        new[target.key] = target
    for key, inc in list(new.items()):
        inc = replace(inc, severity=max(inc.severity, _severity(inc.members), key=rank))
        inc = replace(inc, cause=_cause(inc, sites))
        if inc.state == "maintenance" and any(  # a live member outside every window
                not any(w.covers(m.node, m.site or inc.site, now_ms) for w in windows)
                for m in inc.live_members()):
            inc = replace(inc, state="open", opened_ms=now_ms)
            events.append(Event(key, "maintenance_ended", now_ms))
        if inc.live_members():
            inc = replace(inc, clear_since_ms=None)
        else:
            clear = inc.clear_since_ms if inc.clear_since_ms is not None else now_ms
            inc = replace(inc, clear_since_ms=clear)
            if now_ms - clear >= cfg.resolve_hold_s * 1000:
                done = replace(inc, state="resolved", resolved_ms=now_ms)
                events.append(Event(key, "resolved", now_ms))
                if done.announced:
                    events.append(Event(key, "notify", now_ms, {"state": "resolved",
                                                                "severity": done.severity}))
                resolved.append(done)
                del new[key]
                continue
        if inc.state in ("open", "acknowledged") and inc.live_members():
            if not inc.announced and inc.state == "open" and now_ms - inc.opened_ms >= cfg.settle_s * 1000:
                inc = replace(inc, announced=inc.severity)
                events.append(Event(key, "notify", now_ms, {"state": "opened",
                                                            "severity": inc.severity}))
            elif inc.announced and rank(inc.severity) > rank(inc.announced):
                events.append(Event(key, "escalated", now_ms, {"from": inc.announced,
                                                               "to": inc.severity}))
                inc = replace(inc, announced=inc.severity)
                events.append(Event(key, "notify", now_ms, {"state": "escalated",
                                                            "severity": inc.severity}))
        new[key] = inc
    return new, resolved, events


def acknowledge(inc: Incident, by: str, note: str, now_ms: int) -> tuple[Incident, Event | None]:
    """Acknowledge an open incident; no change if in maintenance, acknowledged or resolved."""
    if inc.state != "open":
        return inc, None
    return (replace(inc, state="acknowledged", acked_ms=now_ms, acked_by=by, ack_note=note),
            Event(inc.key, "acknowledged", now_ms, {"by": by, "note": note}))
