"""The alerts table in central's SQLite state database (own connection)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from central.alerts.model import Opened, Resolved
from central.storage.statedb import open_state

ALERT_STATES: tuple[str, ...] = ("open", "acknowledged", "resolved")

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node TEXT NOT NULL,
    site TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    opened_ms INTEGER NOT NULL,
    resolved_ms INTEGER,
    acked_ms INTEGER,
    acked_by TEXT,
    evidence TEXT NOT NULL,
    message_en TEXT NOT NULL,
    message_id TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_active ON alerts (node, kind)
    WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS alerts_state ON alerts (state, opened_ms);
"""
MIGRATIONS = (SCHEMA,)  # migration n = entry n - 1 (central.storage.statedb)
INSERT = """INSERT OR IGNORE INTO alerts (node, site, kind, severity, state, opened_ms,
    evidence, message_en, message_id) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?)"""
RESOLVE = """UPDATE alerts SET state = 'resolved', resolved_ms = ?
    WHERE node = ? AND kind = ? AND state != 'resolved'"""
ACK = """UPDATE alerts SET state = 'acknowledged', acked_ms = ?, acked_by = ?
    WHERE id = ? AND state = 'open'"""


class AlertStoreError(RuntimeError):
    """The alert tables could not be read or written."""


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of one alert row (evidence parsed, messages in EN and ID)."""
    out = dict(row)
    out["evidence"] = json.loads(out["evidence"])
    out["message"] = {"en": out.pop("message_en"), "id": out.pop("message_id")}
    return out


class AlertStore:
    """Thread-safe access to the alerts table; every write is one IMMEDIATE transaction."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 10.0) -> None:
        self._db = open_state(path, "alerts", MIGRATIONS, error=AlertStoreError, what="alert tables",
                            busy_timeout_s=busy_timeout_s)

    def apply(self, actions: Sequence[Opened | Resolved]) -> int:
        """Open and resolve alerts in one transaction; returns how many rows changed."""
        def tx(c: Any) -> int:
            changed = 0
            for a in actions:
                if isinstance(a, Opened):
                    changed += c.execute(INSERT, (a.node, a.site, a.kind, a.severity, a.opened_ms,
                                                  json.dumps(a.evidence), a.message_en,
                                                  a.message_id)).rowcount
                else:
                    changed += c.execute(RESOLVE, (a.resolved_ms, a.node, a.kind)).rowcount
            return changed
        return self._db.tx(tx) if actions else 0

    def active_keys(self) -> set[tuple[str, str]]:
        """(node, kind) of every alert not yet resolved (open or acknowledged)."""
        rows = self._db.all("SELECT node, kind FROM alerts WHERE state != 'resolved'")
        return {(r["node"], r["kind"]) for r in rows}

    def list_alerts(self, state: str | None = None, node: str | None = None,
                    limit: int = 500) -> list[dict[str, Any]]:
        """Alerts newest first; state 'active' means open or acknowledged."""
        where, params = [], []
        if state == "active":
            where.append("state != 'resolved'")
        elif state is not None:
            where.append("state = ?")
            params.append(state)
        if node is not None:
            where.append("node = ?")
            params.append(node)
        sql = "SELECT * FROM alerts" + (" WHERE " + " AND ".join(where) if where else "")
        return [_public(r) for r in self._db.all(sql + " ORDER BY id DESC LIMIT ?",
                                              (*params, limit))]

    def get(self, alert_id: int) -> dict[str, Any] | None:
        """One alert, or None."""
        rows = self._db.all("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        return _public(rows[0]) if rows else None

    def ack(self, alert_id: int, by: str, now_ms: int) -> dict[str, Any] | None:
        """Acknowledge an open alert (no change if acknowledged or resolved); None if unknown."""
        self._db.tx(lambda c: c.execute(ACK, (now_ms, by, alert_id)))
        return self.get(alert_id)

    def counts(self) -> dict[tuple[str, str], int]:
        """Number of alerts per (state, severity), resolved ones excluded."""
        rows = self._db.all("SELECT state, severity, COUNT(*) AS n FROM alerts "
                         "WHERE state != 'resolved' GROUP BY state, severity")
        return {(r["state"], r["severity"]): int(r["n"]) for r in rows}

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
