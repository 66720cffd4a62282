"""Incidents, their timelines and maintenance windows in central's SQLite state database.

One correlation round (load the active incidents, ``incidents.correlate``, write them, their
events and the outbox rows of their notifications) is ONE transaction, so an operator's ack and
the leader's round never overwrite each other and a notification is queued exactly when its
incident's state is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from central.alerts.incidents import (
    ActiveAlert,
    Event,
    Incident,
    IncidentConfig,
    Member,
    SiteInfo,
    Window,
    acknowledge,
    correlate,
)
from central.storage.statedb import open_state

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    site TEXT NOT NULL,
    node TEXT,
    site_kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'maintenance', 'resolved')),
    opened_ms INTEGER NOT NULL,
    resolved_ms INTEGER,
    acked_ms INTEGER,
    acked_by TEXT,
    ack_note TEXT,
    clear_since_ms INTEGER,
    announced TEXT NOT NULL,
    flaps INTEGER NOT NULL,
    cause TEXT NOT NULL,
    members TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS incidents_one_active ON incidents (key)
    WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS incidents_state ON incidents (state, opened_ms);
CREATE TABLE IF NOT EXISTS incident_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incident_events_of ON incident_events (incident_id, id);
CREATE TABLE IF NOT EXISTS maintenance_windows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site TEXT,
    node TEXT,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    note TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    CHECK ((site IS NULL) != (node IS NULL)),
    CHECK (end_ms > start_ms)
);
"""
MIGRATIONS = (SCHEMA,)  # migration n = entry n - 1 (central.storage.statedb)
COLUMNS = ("key", "site", "node", "site_kind", "severity", "state", "opened_ms", "resolved_ms",
           "acked_ms", "acked_by", "ack_note", "clear_since_ms", "announced", "flaps", "cause",
           "members")
INSERT = (f"INSERT INTO incidents ({', '.join(COLUMNS)}) "
          f"VALUES ({', '.join(':' + c for c in COLUMNS)})")
UPDATE = ("UPDATE incidents SET " + ", ".join(f"{c} = :{c}" for c in COLUMNS if c != "key")
          + " WHERE id = :id")

#: Called inside the round's transaction for every ``notify`` event (the outbox's enqueue).
NotifyHook = Callable[[Any, dict[str, Any], Event], None]


class IncidentStoreError(RuntimeError):
    """The incident tables could not be read or written."""


def _row(inc: Incident) -> dict[str, Any]:
    d = {c: getattr(inc, c) for c in COLUMNS if c not in ("cause", "members")}
    d["cause"] = json.dumps(inc.cause)
    d["members"] = json.dumps([asdict(m) for m in inc.members])
    d["id"] = inc.id
    return d


def _incident(r: Mapping[str, Any]) -> Incident:
    members = r["members"] if isinstance(r["members"], list) else json.loads(r["members"])
    cause = r["cause"] if isinstance(r["cause"], dict) else json.loads(r["cause"])
    return Incident(
        key=r["key"], site=r["site"], node=r["node"], site_kind=r["site_kind"],
        severity=r["severity"], state=r["state"], opened_ms=r["opened_ms"], cause=cause,
        members=tuple(Member(**m) for m in members), id=r["id"], resolved_ms=r["resolved_ms"],
        acked_ms=r["acked_ms"], acked_by=r["acked_by"], ack_note=r["ack_note"],
        clear_since_ms=r["clear_since_ms"], announced=r["announced"], flaps=r["flaps"])


def public(inc: Incident) -> dict[str, Any]:
    """The JSON form of an incident (without its timeline)."""
    d = asdict(inc)
    d["members"] = [asdict(m) for m in inc.members]
    d.pop("clear_since_ms")
    return d


def _dicts(cur: Any) -> list[dict[str, Any]]:
    names = [x[0] for x in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _write_event(c: Any, incident_id: int, ev: Event) -> None:
    c.execute("INSERT INTO incident_events (incident_id, at_ms, kind, detail) VALUES (?, ?, ?, ?)",
              (incident_id, ev.at_ms, ev.kind, json.dumps(ev.detail)))


class IncidentStore:
    """Thread-safe access to incidents and maintenance windows (own connection)."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 10.0) -> None:
        self._db = open_state(path, "incidents", MIGRATIONS, error=IncidentStoreError, what="incident tables",
                            busy_timeout_s=busy_timeout_s, json_columns=("cause", "members",
                                                                         "detail"))

    # ------------------------------------------------------------ correlation round
    def round(self, active: Sequence[ActiveAlert], sites: Mapping[str, SiteInfo], now_ms: int,
              cfg: IncidentConfig, on_notify: NotifyHook | None = None) -> list[Event]:
        """Load, correlate and write in one transaction; returns the round's events."""
        def tx(c: Any) -> list[Event]:
            book = {r["key"]: _incident(r) for r in _dicts(c.execute(
                "SELECT * FROM incidents WHERE state != 'resolved'"))}
            windows = [Window(r["id"], r["start_ms"], r["end_ms"], r["site"], r["node"],
                              r["note"]) for r in _dicts(c.execute(
                                  "SELECT * FROM maintenance_windows WHERE end_ms > ? AND "
                                  "start_ms <= ?", (now_ms, now_ms)))]
            new, resolved, events = correlate(active, book, windows, sites, now_ms, cfg)
            ids: dict[str, int] = {}
            for inc in [*new.values(), *resolved]:
                row = _row(inc)
                if inc.id is None:
                    c.execute(INSERT, row)
                    ids[inc.key] = int(c.execute("SELECT last_insert_rowid()").fetchone()[0])
                else:
                    if inc != book.get(inc.key):
                        c.execute(UPDATE, row)
                    ids[inc.key] = inc.id
            final = {i.key: i for i in [*new.values(), *resolved]}
            for ev in events:
                _write_event(c, ids[ev.key], ev)
                if ev.kind == "notify" and on_notify is not None:
                    inc = final[ev.key]
                    on_notify(c, {**public(inc), "id": ids[ev.key]}, ev)
            return events
        return self._db.tx(tx)

    # ------------------------------------------------------------ reads and acks
    def list_incidents(self, state: str | None = None, site: str | None = None,
                       severity: str | None = None, node: str | None = None,
                       limit: int = 200) -> list[dict[str, Any]]:
        """Incidents newest first; state 'active' = not resolved; node = has that member."""
        where, params = [], []
        if state == "active":
            where.append("state != 'resolved'")
        elif state is not None:
            where.append("state = ?")
            params.append(state)
        for col, val in (("site", site), ("severity", severity)):
            if val is not None:
                where.append(f"{col} = ?")
                params.append(val)
        if node is not None:
            where.append("(node = ? OR members LIKE ?)")
            params += [node, f'%"node": {json.dumps(node)}%']
        sql = "SELECT * FROM incidents" + (" WHERE " + " AND ".join(where) if where else "")
        return [public(_incident(r)) for r in self._db.all(sql + " ORDER BY id DESC LIMIT ?",
                                                          (*params, limit))]

    def get(self, incident_id: int) -> dict[str, Any] | None:
        """One incident with its timeline (oldest first), or None."""
        row = self._db.one("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        if row is None:
            return None
        out = public(_incident(row))
        out["timeline"] = self._db.all("SELECT at_ms, kind, detail FROM incident_events "
                                       "WHERE incident_id = ? ORDER BY id", (incident_id,))
        return out

    def ack(self, incident_id: int, by: str, note: str, now_ms: int) -> dict[str, Any] | None:
        """Acknowledge an open incident (who, when, note); None if unknown."""
        def tx(c: Any) -> bool:
            rows = _dicts(c.execute("SELECT * FROM incidents WHERE id = ?", (incident_id,)))
            if not rows:
                return False
            inc, ev = acknowledge(_incident(rows[0]), by, note, now_ms)
            if ev is not None:
                c.execute(UPDATE, _row(inc))
                _write_event(c, incident_id, ev)
            return True
        return self.get(incident_id) if self._db.tx(tx) else None

    def counts(self) -> dict[tuple[str, str], int]:
        """Active incidents per (state, severity)."""
        rows = self._db.all("SELECT state, severity, COUNT(*) AS n FROM incidents "
                            "WHERE state != 'resolved' GROUP BY state, severity")
        return {(r["state"], r["severity"]): int(r["n"]) for r in rows}

    # ------------------------------------------------------------ maintenance windows
    def add_window(self, site: str | None, node: str | None, start_ms: int, end_ms: int,
                   note: str, by: str, now_ms: int) -> dict[str, Any]:
        """Store a maintenance window over one site or one node (ValueError if malformed)."""
        if (site is None) == (node is None):
            raise ValueError("a maintenance window names exactly one of site and node")
        if end_ms <= start_ms:
            raise ValueError("a maintenance window must end after it starts")

        def tx(c: Any) -> int:
            c.execute("INSERT INTO maintenance_windows (site, node, start_ms, end_ms, note, "
                      "created_by, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (site, node, start_ms, end_ms, note, by, now_ms))
            return int(c.execute("SELECT last_insert_rowid()").fetchone()[0])
        wid = self._db.tx(tx)
        return self._db.one("SELECT * FROM maintenance_windows WHERE id = ?", (wid,)) or {}

    def windows(self, since_ms: int | None = None) -> list[dict[str, Any]]:
        """Maintenance windows (those ending after since_ms), soonest first."""
        if since_ms is None:
            return self._db.all("SELECT * FROM maintenance_windows ORDER BY start_ms, id")
        return self._db.all("SELECT * FROM maintenance_windows WHERE end_ms > ? "
                            "ORDER BY start_ms, id", (since_ms,))

    def delete_window(self, window_id: int) -> bool:
        """Remove a window; False if unknown."""
        return self._db.execute("DELETE FROM maintenance_windows WHERE id = ?",
                                (window_id,)) == 1

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
