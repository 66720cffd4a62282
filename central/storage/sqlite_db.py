"""A locked SQLite connection for central's own tables (commands, alerts): one IMMEDIATE
transaction per write, dict rows, store-specific error type."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class LockedSqlite:
    """One thread-safe connection (WAL) to central's SQLite DB with its own tables."""

    error: type[Exception] = RuntimeError  #: raised on any sqlite3 error
    what: str = "tables"  #: named in error messages, e.g. "command tables"

    def __init__(self, path: str | Path, schema: str, busy_timeout_s: float = 10.0) -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None,
                                       check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(schema)
        except (sqlite3.Error, OSError) as exc:
            raise self.error(f"cannot open {self.what} in {self.path}: {exc}") from None
        self._lock = threading.Lock()

    def _row(self, cur: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
        """One result row as a dict (stores may decode JSON columns here)."""
        return {d[0]: v for d, v in zip(cur.description, row, strict=True)}

    def _tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    out = fn(self._db)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return out
            except sqlite3.Error as exc:
                raise self.error(f"{self.what}: {exc}") from exc

    def _one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        with self._lock:
            try:
                cur = self._db.execute(sql, params)
                row = cur.fetchone()
                return None if row is None else self._row(cur, row)
            except sqlite3.Error as exc:
                raise self.error(f"{self.what}: {exc}") from exc

    def _all(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        with self._lock:
            try:
                cur = self._db.execute(sql, params)
                return [self._row(cur, r) for r in cur.fetchall()]
            except sqlite3.Error as exc:
                raise self.error(f"{self.what}: {exc}") from exc

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()
