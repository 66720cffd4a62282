"""The durable notification outbox in central's SQLite state database.

One row per (incident, state, route) -- the UNIQUE ``dedup`` key, which is also the
receiver-side idempotency key -- holding the message as rendered when it was queued. Rows are
queued in the transaction that writes the incident's state (``enqueue_hook``), so a
notification exists exactly when its incident state does. Delivery (central.notify.sender):
the head row of a route is marked ``sending`` (one transaction), delivered, then marked
``sent`` (one transaction); a failure puts it back to ``pending`` with ``next_ms`` (backoff
with jitter). A central killed between the receiver's answer and the ``sent`` mark leaves the
row ``sending``: the next leader delivers it again with the same idempotency key, so a
receiver that remembers keys (webhook header, e-mail Message-ID) sees it once. Telegram's
Bot API has no idempotency key: that one crash window may repeat one Telegram message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from central.alerts.incident_store import NotifyHook
from central.alerts.incidents import Event
from central.notify.catalogue import incident_message
from central.notify.config import NotifySection, RouteSection
from central.notify.routing import pick
from central.storage.statedb import open_state

SCHEMA = """
CREATE TABLE IF NOT EXISTS notify_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup TEXT NOT NULL UNIQUE,
    route TEXT NOT NULL,
    incident_id INTEGER,
    state TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'skipped')),
    payload TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    next_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    claimed_by TEXT,
    sent_ms INTEGER
);
CREATE INDEX IF NOT EXISTS notify_outbox_unsent ON notify_outbox (route, id)
    WHERE status IN ('pending', 'sending');
CREATE INDEX IF NOT EXISTS notify_outbox_incident ON notify_outbox (incident_id, state);
"""
MIGRATIONS = (SCHEMA,)  # migration n = entry n - 1 (central.storage.statedb)
INSERT = """INSERT OR IGNORE INTO notify_outbox (dedup, route, incident_id, state, status,
    payload, created_ms, next_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"""
OUTBOX_STATUSES: tuple[str, ...] = ("pending", "sending", "sent", "skipped")


class OutboxError(RuntimeError):
    """The outbox could not be read or written."""


def dedup_key(incident_id: int | None, state: str, route: str) -> str:
    """The row's unique key and the receiver's idempotency key."""
    return f"kotanet-incident-{incident_id}-{state}-{route}"


def payload(inc: dict[str, Any], state: str, route: RouteSection, key: str,
            base_url: str, now_ms: int) -> dict[str, Any]:
    """The message of one route as queued (the webhook body, docs/operations.md)."""
    subject, body, link = incident_message(inc, state.split("-")[0], route.lang, base_url)
    return {"version": 1, "idempotency_key": key, "event": state.split("-")[0], "route": route.id,
            "lang": route.lang, "subject": subject, "text": body, "link": link,
            "queued_ms": now_ms, "incident": inc}


def enqueue_hook(cfg: NotifySection) -> NotifyHook:
    """Queue the messages of one incident ``notify`` event, inside the round's transaction."""
    routes = list(cfg.routes)

    def hook(c: Any, inc: dict[str, Any], ev: Event) -> None:
        state = ev.detail["state"]
        told = [r[0] for r in c.execute(
            "SELECT DISTINCT route FROM notify_outbox WHERE incident_id = ? AND state != "
            "'resolved' AND status != 'skipped'", (inc["id"],))]
        full = f"escalated-{ev.detail['severity']}" if state == "escalated" else state
        for route_id, status in pick(routes, inc, state, ev.detail["severity"], ev.at_ms,
                                     cfg.timezone, told):
            route = next(r for r in routes if r.id == route_id)
            key = dedup_key(inc["id"], full, route_id)
            c.execute(INSERT, (key, route_id, inc["id"], full, status, json.dumps(
                payload(inc, full, route, key, cfg.base_url, ev.at_ms)), ev.at_ms, ev.at_ms))
    return hook


class OutboxStore:
    """Thread-safe access to the outbox (own connection; every write one transaction)."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 10.0) -> None:
        self._db = open_state(path, "notify", MIGRATIONS, error=OutboxError, what="notification outbox",
                            busy_timeout_s=busy_timeout_s, json_columns=("payload",))

    def add(self, key: str, route: str, state: str, body: dict[str, Any], now_ms: int,
            incident_id: int | None = None) -> bool:
        """Queue one message (a test message, a report); False if the key is queued already."""
        return self._db.execute(INSERT, (key, route, incident_id, state, "pending",
                                         json.dumps(body), now_ms, now_ms)) == 1

    def routes_due(self, now_ms: int) -> list[str]:
        """Routes whose oldest unsent message is due now."""
        rows = self._db.all(
            "SELECT o.route, o.next_ms FROM notify_outbox o JOIN (SELECT route, MIN(id) AS id "
            "FROM notify_outbox WHERE status IN ('pending', 'sending') GROUP BY route) h "
            "ON o.id = h.id")
        return sorted(r["route"] for r in rows if r["next_ms"] <= now_ms)

    def claim(self, route: str, holder: str, now_ms: int) -> dict[str, Any] | None:
        """Mark the route's oldest unsent row 'sending' (if due) and return it; else None."""
        def tx(c: Any) -> int | None:
            row = c.execute("SELECT id, next_ms FROM notify_outbox WHERE route = ? AND status IN "
                            "('pending', 'sending') ORDER BY id LIMIT 1", (route,)).fetchone()
            if row is None or row[1] > now_ms:
                return None
            c.execute("UPDATE notify_outbox SET status = 'sending', attempts = attempts + 1, "
                      "claimed_by = ? WHERE id = ?", (holder, row[0]))
            return int(row[0])
        oid = self._db.tx(tx)
        return None if oid is None else self._db.one("SELECT * FROM notify_outbox WHERE id = ?",
                                                     (oid,))

    def mark_sent(self, oid: int, now_ms: int) -> None:
        """The receiver accepted the message."""
        self._db.execute("UPDATE notify_outbox SET status = 'sent', sent_ms = ?, last_error = "
                         "NULL WHERE id = ?", (now_ms, oid))

    def mark_failed(self, oid: int, error: str, next_ms: int) -> None:
        """Delivery failed: retry at next_ms (the error must hold no secret)."""
        self._db.execute("UPDATE notify_outbox SET status = 'pending', last_error = ?, "
                         "next_ms = ? WHERE id = ?", (error[:500], next_ms, oid))

    def prune(self, before_ms: int) -> int:
        """Delete sent and skipped rows queued before before_ms; returns how many."""
        return self._db.execute("DELETE FROM notify_outbox WHERE status IN ('sent', 'skipped') "
                                "AND created_ms < ?", (before_ms,))

    def rows(self, route: str | None = None, status: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Outbox rows oldest first (optionally of one route and some statuses)."""
        where, params = [], []
        if route is not None:
            where.append("route = ?")
            params.append(route)
        if status:
            where.append(f"status IN ({', '.join('?' * len(status))})")
            params += list(status)
        sql = "SELECT * FROM notify_outbox" + (" WHERE " + " AND ".join(where) if where else "")
        return self._db.all(sql + " ORDER BY id", params)

    def counts(self) -> dict[str, int]:
        """Rows per status."""
        return {r["status"]: int(r["n"]) for r in self._db.all(
            "SELECT status, COUNT(*) AS n FROM notify_outbox GROUP BY status")}

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
