"""SQLite backend: WAL, one transaction per batch, a writer and a read-only connection."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from central.clock import wall_ms
from central.config import RegistryNode
from central.storage import _sqlite_sql as q
from central.storage import rollup
from central.storage._sql_backend import (
    SqlBackend,
    fold_stored,
    message_writes,
    sample_rows,
    touches,
)
from central.storage.base import Incoming, StorageError
from central.storage.sqlite_db import SqliteDb
from protocol.messages import Sample

log = logging.getLogger(__name__)


class SqliteStorage(SqlBackend):
    """The embedded default backend; safe to share between the writer thread and the API."""

    _sql = q.SQL

    def __init__(self, path: str | Path, busy_timeout_s: float = 10.0) -> None:
        self.path = str(path)
        self._db = SqliteDb(self.path, q.SCHEMA, error=StorageError, what="SQLite database",
                            busy_timeout_s=busy_timeout_s, json_columns=("data", "birth"),
                            reader=True, create_dir=True)
        self._migrate()

    def _migrate(self) -> None:
        """Bring an older database to SCHEMA_VERSION (one transaction; another process opening
        the same file at once waits on BEGIN IMMEDIATE and then finds it done)."""
        def run(c: sqlite3.Connection) -> None:
            have = int(c.execute("PRAGMA user_version").fetchone()[0])
            if have > q.SCHEMA_VERSION:
                raise StorageError(f"database {self.path} has schema version {have}, newer "
                                   f"than this central's {q.SCHEMA_VERSION}")
            if have < 2:
                self._backfill(c)
            if have < q.SCHEMA_VERSION:
                c.execute(f"PRAGMA user_version={q.SCHEMA_VERSION}")
        self._db.tx(run)

    def _backfill(self, c: sqlite3.Connection) -> None:
        """Rebuild rollup_5m from the samples of the last BACKFILL_DAYS, a page at a time."""
        c.execute("DELETE FROM rollup_5m")
        since = wall_ms() - rollup.BACKFILL_DAYS * 86400_000
        nodes = [r[0] for r in c.execute("SELECT node FROM nodes ORDER BY node")]
        read = built = 0
        for node in nodes:
            ts, seq = since - 1, 2**63 - 1
            while True:
                page = c.execute(q.SAMPLES_PAGE, {"node": node, "ts": ts, "seq": seq,
                                                   "limit": rollup.BACKFILL_PAGE}).fetchall()
                if not page:
                    break
                acc = rollup.Rollup()
                for _, ts_ms, data in page:
                    acc.add_stored(node, ts_ms, data)
                c.executemany(q.UPSERT_ROLLUP, acc.params())
                read += len(page)
                seq, ts = page[-1][0], page[-1][1]
                if len(page) < rollup.BACKFILL_PAGE:
                    break
        if read:
            built = int(c.execute("SELECT COUNT(*) FROM rollup_5m").fetchone()[0])
            log.info("rollup backfill of %s: %d samples of the last %d days -> %d rollup rows",
                     self.path, read, rollup.BACKFILL_DAYS, built)

    def _delete(self, sql: str, params: dict[str, Any]) -> int:
        return self._db.tx(lambda c: c.execute(sql, params).rowcount)

    # ------------------------------------------------------------ writes
    def sync_registry(self, nodes: Sequence[RegistryNode]) -> None:
        """Insert or update the registry's nodes (site, role, name; clears 'unregistered')."""
        rows = [(n.node, n.site, n.role, n.name) for n in nodes]
        self._db.tx(lambda c: c.executemany(q.SQL.upsert_registry, rows))

    def write(self, batch: Sequence[Incoming]) -> None:
        """Store a batch in arrival order in ONE transaction, idempotent on (node, seq)."""
        if batch:  # rows built before the transaction: the write lock is held less long
            rows, owners = sample_rows(batch)
            self._db.tx(lambda c: self._write(c, batch, rows, owners))

    def _write(self, c: sqlite3.Connection, batch: Sequence[Incoming],
               rows: list[tuple[Any, ...]], owners: list[tuple[str, Sample]]) -> None:
        c.executemany(q.SQL.touch_node, touches(batch))
        acc = rollup.Rollup()  # only rows really inserted go into the rollup
        if rows:
            fold_stored(owners, self._insert_samples(c, rows), acc)
        for inc in batch:
            for sql, params, many in message_writes(q.SQL, inc):
                (c.executemany if many else c.execute)(sql, params)
        if acc.rows:
            c.executemany(q.UPSERT_ROLLUP, acc.params())

    @classmethod
    def _insert_samples(cls, c: sqlite3.Connection,
                        rows: Sequence[tuple[Any, ...]]) -> list[tuple[str, int]]:
        """Insert the rows whose (node, seq) is not stored; (node, seq) of each one inserted.

        A re-sent batch is answered from memory before it gets here (collector/dedupe.py), so
        nearly every row is new: all are inserted under a savepoint, kept if every one went
        in. Only a batch holding a stored (or twice the same) (node, seq) is rolled back to the
        savepoint and inserted again without those (one primary-key lookup per node)."""
        before = c.total_changes
        c.execute("SAVEPOINT samples")
        c.executemany(q.SQL.insert_sample, rows)
        if c.total_changes - before == len(rows):
            c.execute("RELEASE samples")
            return [(row[0], row[1]) for row in rows]
        c.execute("ROLLBACK TO samples")
        c.execute("RELEASE samples")
        fresh = cls._fresh(c, rows)  # exact: this transaction is the only writer
        if fresh:
            c.executemany(q.SQL.insert_sample, [rows[i] for i in fresh])
        return [(rows[i][0], rows[i][1]) for i in fresh]

    @staticmethod
    def _fresh(c: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> list[int]:
        """Indexes of the rows whose (node, seq) is neither stored nor earlier in rows."""
        by_node: dict[str, list[int]] = {}
        for row in rows:
            by_node.setdefault(row[0], []).append(row[1])
        known = {(node, seq) for node, seqs in by_node.items()
                 for (seq,) in c.execute(q.STORED_SEQS, (node, json.dumps(seqs)))}
        out = []
        for i, row in enumerate(rows):
            key = (row[0], row[1])
            if key not in known:
                known.add(key)
                out.append(i)
        return out

    def add_token(self, name: str, role: str, token_sha256: str) -> None:
        """Store an API token (only its SHA-256) with a role."""
        self._db.tx(lambda c: c.execute(
            "INSERT OR REPLACE INTO api_tokens VALUES (?, ?, ?, ?)",
            (token_sha256, name, role, wall_ms())))

    # ------------------------------------------------------------ reads
    def _query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return self._db.all(sql, params)

    def close(self) -> None:
        """Close every connection."""
        self._db.close()
