"""Central's record of nodes going offline and coming back, kept as events (own state table).

The storage keeps only the current presence (``nodes.online``, ``offline_since_ms``,
``online_since_ms``); the NOC's poller writes each change it finds into ``noc_presence`` with
central's times from those columns, so the node page lists every offline period of the last
days with its time, recorded by central. Idempotent: one row per (node, kind, time).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from central.storage.statedb import open_state

SCHEMA = """
CREATE TABLE IF NOT EXISTS noc_presence (
    node TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('offline', 'online')),
    ts_ms INTEGER NOT NULL,
    PRIMARY KEY (node, kind, ts_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS noc_presence_ts ON noc_presence (node, ts_ms);
"""
#: Migration n is entry n - 1 (central.storage.statedb); a change after release is a new entry.
MIGRATIONS = (SCHEMA,)


class PresenceLog:
    """Offline/online changes of nodes as central recorded them; thread-safe."""

    def __init__(self, path: str | Path) -> None:
        """``path``: the state database (SQLite file or PostgreSQL URL)."""
        self._db = open_state(path, "noc_presence", MIGRATIONS, what="NOC presence log")

    def record(self, node: str, kind: str, ts_ms: int) -> None:
        """Remember that node went offline/online at ts_ms (once)."""
        self._db.execute("INSERT OR IGNORE INTO noc_presence (node, kind, ts_ms) "
                         "VALUES (?, ?, ?)", (node, kind, ts_ms))

    def events(self, node: str, since_ms: int) -> list[dict[str, Any]]:
        """The node's recorded changes since since_ms as events (oldest first)."""
        rows = self._db.all("SELECT kind, ts_ms FROM noc_presence WHERE node = ? AND ts_ms >= ? "
                            "ORDER BY ts_ms", (node, since_ms))
        return [{"ts_ms": r["ts_ms"], "kind": r["kind"],
                 "severity": "warning" if r["kind"] == "offline" else "info", "message": "",
                 "data": {}} for r in rows]

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
