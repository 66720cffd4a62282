"""The one SQLite connection helper of central: telemetry storage, commands, alerts and NOC.

WAL journal, a lock per connection (thread-safe), one ``BEGIN IMMEDIATE`` transaction per
write, rows as dicts with JSON columns decoded, and an optional read-only second connection so
that readers never wait behind a writer's transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")
WAL_NORMAL = ("journal_mode=WAL", "synchronous=NORMAL")


def create_private(path: str) -> None:
    """Create the database file 0600 if it does not exist yet (SQLite gives its -wal and
    -shm files the same mode): telemetry, sessions and hashes are no one else's to read."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


class SqliteDb:
    """A thread-safe SQLite database file with its schema applied.

    ``error``: the exception type every sqlite3 error becomes (None: sqlite3 errors pass
    unchanged); ``what`` names the tables in its messages; ``json_columns`` are decoded when
    read as text; ``reader`` opens a separate read-only connection for ``one``/``all``.
    """

    def __init__(self, path: str | Path, schema: str, *, error: type[Exception] | None = None,
                 what: str = "tables", busy_timeout_s: float = 10.0,
                 pragmas: Sequence[str] = WAL_NORMAL, json_columns: Sequence[str] = (),
                 reader: bool = False, create_dir: bool = False) -> None:
        self.path, self.error, self.what = str(path), error, what
        self._json = frozenset(json_columns)
        try:
            if create_dir and self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            create_private(self.path)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None,
                                       check_same_thread=False)
            for pragma in pragmas:
                self._db.execute(f"PRAGMA {pragma}")
            self._db.executescript(schema)
            self._reader = self._db if not reader else sqlite3.connect(
                Path(self.path).resolve().as_uri() + "?mode=ro", uri=True,
                timeout=busy_timeout_s, check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc, f"cannot open {what} in {self.path}")
        self._lock = threading.Lock()
        self._rlock = self._lock if not reader else threading.Lock()

    def _fail(self, exc: Exception, text: str) -> NoReturn:
        if self.error is None:
            raise exc
        raise self.error(f"{text}: {exc}") from exc

    def _dicts(self, cur: sqlite3.Cursor, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        names = [d[0] for d in cur.description]
        out = [dict(zip(names, row, strict=True)) for row in rows]
        for col in self._json.intersection(names):
            for r in out:
                if isinstance(r[col], str):
                    r[col] = json.loads(r[col])
        return out

    def tx(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run fn in one IMMEDIATE transaction (rolled back if it raises); returns its result."""
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
                self._fail(exc, f"{self.what} write failed")

    def execute(self, sql: str, params: Any = ()) -> int:
        """One statement in its own (autocommitted) transaction; returns its rowcount."""
        with self._lock:
            try:
                return self._db.execute(sql, params).rowcount
            except sqlite3.Error as exc:
                self._fail(exc, f"{self.what} write failed")

    def _read(self, sql: str, params: Any, first: bool) -> list[dict[str, Any]]:
        with self._rlock:
            try:
                cur = self._reader.execute(sql, params)
                row = cur.fetchone() if first else None
                return self._dicts(cur, ([] if row is None else [row]) if first
                                   else cur.fetchall())
            except sqlite3.Error as exc:
                self._fail(exc, f"{self.what} read failed")

    def all(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        """Every result row as a dict."""
        return self._read(sql, params, first=False)

    def one(self, sql: str, params: Any = ()) -> dict[str, Any] | None:
        """The first result row as a dict, or None."""
        rows = self._read(sql, params, first=True)
        return rows[0] if rows else None

    def close(self) -> None:
        """Close the connection(s)."""
        with self._lock, (self._rlock if self._rlock is not self._lock else nullcontext()):
            if self._reader is not self._db:
                self._reader.close()
            self._db.close()
