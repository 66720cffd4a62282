"""Alert tables in central's SQLite DB (own connection) and the reader of rule inputs."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from central.alerts import AlertConfig, LiveSample, NodeInputs, Opened, Resolved
from central.sqlite_store import LockedSqlite
from central.storage import Storage

log = logging.getLogger(__name__)
STATES: tuple[str, ...] = ("open", "acknowledged", "resolved")

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


class AlertStore(LockedSqlite):
    """Thread-safe access to the alerts table; every write is one IMMEDIATE transaction."""

    error = AlertStoreError
    what = "alert tables"

    def __init__(self, path: str | Path, busy_timeout_s: float = 10.0) -> None:
        super().__init__(path, SCHEMA, busy_timeout_s)

    def apply(self, actions: Sequence[Opened | Resolved]) -> int:
        """Open and resolve alerts in one transaction; returns how many rows changed."""
        def tx(c: sqlite3.Connection) -> int:
            changed = 0
            for a in actions:
                if isinstance(a, Opened):
                    changed += c.execute(INSERT, (a.node, a.site, a.kind, a.severity, a.opened_ms,
                                                  json.dumps(a.evidence), a.message_en,
                                                  a.message_id)).rowcount
                else:
                    changed += c.execute(RESOLVE, (a.resolved_ms, a.node, a.kind)).rowcount
            return changed
        return self._tx(tx) if actions else 0

    def active_keys(self) -> set[tuple[str, str]]:
        """(node, kind) of every alert not yet resolved (open or acknowledged)."""
        rows = self._all("SELECT node, kind FROM alerts WHERE state != 'resolved'")
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
        return [_public(r) for r in self._all(sql + " ORDER BY id DESC LIMIT ?",
                                              (*params, limit))]

    def get(self, alert_id: int) -> dict[str, Any] | None:
        """One alert, or None."""
        rows = self._all("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        return _public(rows[0]) if rows else None

    def ack(self, alert_id: int, by: str, now_ms: int) -> dict[str, Any] | None:
        """Acknowledge an open alert (no change if acknowledged or resolved); None if unknown."""
        self._tx(lambda c: c.execute(ACK, (now_ms, by, alert_id)))
        return self.get(alert_id)

    def counts(self) -> dict[tuple[str, str], int]:
        """Number of alerts per (state, severity), resolved ones excluded."""
        rows = self._all("SELECT state, severity, COUNT(*) AS n FROM alerts "
                         "WHERE state != 'resolved' GROUP BY state, severity")
        return {(r["state"], r["severity"]): int(r["n"]) for r in rows}



def primary_uplink(birth: dict[str, Any] | None) -> str | None:
    """The name of the birth's uplink with the lowest priority number (None if unknown)."""
    ups = (birth or {}).get("uplinks") or []
    return str(min(ups, key=lambda u: u.get("priority", 0))["name"]) if ups else None


class InputReader:
    """Builds NodeInputs from central's Storage (births and gaps cached, re-read sparingly)."""

    def __init__(self, storage: Storage, cfg: AlertConfig, gap_grace_ms: int,
                 gap_refresh_ms: int = 30_000, birth_refresh_ms: int = 60_000) -> None:
        self.storage, self.cfg, self.gap_grace_ms = storage, cfg, gap_grace_ms
        self.gap_refresh_ms, self.birth_refresh_ms = gap_refresh_ms, birth_refresh_ms
        self._births: dict[str, tuple[int | None, str | None, int]] = {}
        self._gaps: dict[str, tuple[tuple[int, int], ...]] = {}
        self._gaps_ms: int | None = None

    def _primary(self, node: str, session: int | None, now_ms: int) -> str | None:
        cached = self._births.get(node)
        if cached is not None and cached[0] == session and (
                cached[1] is not None or now_ms - cached[2] < self.birth_refresh_ms):
            return cached[1]
        detail = self.storage.node_detail(node, now_ms, self.gap_grace_ms)
        primary = primary_uplink(detail["birth"] if detail else None)
        self._births[node] = (session, primary, now_ms)
        return primary

    def _samples(self, node: str, now_ms: int) -> tuple[LiveSample, ...]:
        since = now_ms - int(self.cfg.freshness_s * 1000)
        out: list[LiveSample] = []
        for _ in range(10):  # bounded paging through the freshness window
            rows = self.storage.samples(node, since, None, 1000)
            out += [live_sample(r) for r in rows]
            if len(rows) < 1000:
                break
            since = int(rows[-1]["ts_ms"]) + 1
        return tuple(out)

    def read(self, now_ms: int) -> list[NodeInputs]:
        """The inputs of every known node at now_ms."""
        if self._gaps_ms is None or now_ms - self._gaps_ms >= self.gap_refresh_ms:
            per: dict[str, list[tuple[int, int]]] = {}
            for g in self.storage.gaps(now_ms, self.gap_grace_ms):
                per.setdefault(g.node, []).append((g.from_seq, g.to_seq))
            self._gaps = {k: tuple(v) for k, v in per.items()}
            self._gaps_ms = now_ms
        fresh_from = now_ms - int(self.cfg.freshness_s * 1000)
        out: list[NodeInputs] = []
        for r in self.storage.list_nodes():
            node = r["node"]
            recent = r["last_sample_ms"] is not None and r["last_sample_ms"] >= fresh_from
            out.append(NodeInputs(
                node, r["site"], bool(r["online"]), r["offline_since_ms"], r["last_seen_ms"],
                bool(r["unregistered"]),
                self._primary(node, r["session"], now_ms) if recent else None,
                self._samples(node, now_ms) if recent else (), self._gaps.get(node, ())))
        return out


def live_sample(row: dict[str, Any]) -> LiveSample:
    """A LiveSample from a Storage.samples() row (its ``data`` is the sample as sent)."""
    data = row.get("data") or {}
    system = data.get("system") or {}
    up = next((u for u in data.get("uplinks") or [] if u.get("active")), None) or {}
    return LiveSample(int(row["ts_ms"]), int(row["received_ms"]), bool(row["historical"]),
                      up.get("name"), up.get("rtt_ms"), up.get("loss_pct"), system.get("temp_c"),
                      system.get("disk_pct"), system.get("undervoltage"))
