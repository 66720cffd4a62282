"""Incidents as the NOC shows them, and the live feed of their changes (issue 16).

The alert engine (central.alerts) writes incidents; this module only reads them through the
engine's ``IncidentStore``: each incident with its timeline and its root-cause line in both
languages (the notification catalogue's titles, so the page says what the messages say), the
counts per state, and ``IncidentFeed.poll`` which the live hub calls every tick to learn
which incidents changed since the last poll.
"""

from __future__ import annotations

import threading
from typing import Any

from central.alerts.incident_store import IncidentStore
from central.notify.catalogue import title

ACTIVE_STATES: tuple[str, ...] = ("open", "acknowledged", "maintenance")
RECENT_RESOLVED = 50  # resolved incidents the feed keeps watching (the page's resolved tab)


def titles(inc: dict[str, Any]) -> dict[str, str]:
    """The incident's root-cause line in Bahasa Indonesia and English."""
    return {lang: title(inc.get("cause") or {}, lang) for lang in ("id", "en")}


def view(inc: dict[str, Any], store: IncidentStore | None = None) -> dict[str, Any]:
    """One incident for the page: its fields, titles and (with a store) its timeline."""
    out = dict(inc)
    out["titles"] = titles(inc)
    if store is not None and "timeline" not in out and inc.get("id") is not None:
        full = store.get(int(inc["id"]))
        out["timeline"] = (full or {}).get("timeline", [])
    return out


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Incidents per active state, and 'active' = open + acknowledged (maintenance apart)."""
    out = {st: sum(1 for r in rows if r["state"] == st) for st in ACTIVE_STATES}
    out["active"] = out["open"] + out["acknowledged"]
    return out


def listing(store: IncidentStore, state: str | None, site: str | None, severity: str | None,
            node: str | None, limit: int = 200) -> list[dict[str, Any]]:
    """Incidents newest first with their timelines ('active' = not resolved); blocking."""
    return [view(r, store) for r in store.list_incidents(state, site, severity, node, limit)]


class IncidentFeed:
    """What the live hub pushes: incidents that changed since the last poll, and counts."""

    def __init__(self, store: IncidentStore | None) -> None:
        self.store = store
        self.rows: dict[int, dict[str, Any]] = {}
        self.views: dict[int, dict[str, Any]] = {}
        self.counts: dict[str, int] = counts([])
        self.polled = False
        self._lock = threading.Lock()  # the hub's tick and a new client's poll may overlap

    def poll(self) -> list[dict[str, Any]]:
        """Read the active and recent incidents; the views of those that changed; blocking."""
        if self.store is None:
            return []
        with self._lock:
            return self._poll(self.store)

    def _poll(self, store: IncidentStore) -> list[dict[str, Any]]:
        active = store.list_incidents("active", limit=5000)
        rows = active + store.list_incidents("resolved", limit=RECENT_RESOLVED)
        current = {int(r["id"]): r for r in rows}
        changed = [i for i, r in current.items() if self.rows.get(i) != r]
        views = {i: v for i, v in self.views.items() if i in current}
        for i in changed:
            views[i] = view(current[i], store)
        # replaced, never changed in place: everything() may read it from another thread
        self.views, self.rows, self.counts, self.polled = views, current, counts(active), True
        return [views[i] for i in changed]

    def message(self, changed: list[dict[str, Any]], now_ms: int) -> dict[str, Any]:
        """The WebSocket message of some changed incidents (all of them for a new client)."""
        return {"type": "incidents", "counts": self.counts, "changed": changed, "now": now_ms}

    def everything(self) -> list[dict[str, Any]]:
        """Every watched incident, newest first (a new client's first message)."""
        views = self.views
        return [views[i] for i in sorted(views, reverse=True)]
