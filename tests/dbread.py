"""Read central's tables in tests on either backend: ``from tests.dbread import read_rows``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from central.storage.sqlite_db import SqliteDb
from central.storage.statedb import PgStateDb, is_postgres


def read_rows(target: str | Path, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows (dicts) of one read-only query, written in SQLite's spelling with ``?``
    placeholders, on central's database at ``target``: a SQLite file path or a
    ``postgresql://`` URL (central.storage.statedb translates). No rows while the SQLite file
    does not exist yet (central not started); each call opens and closes its own connection."""
    db: SqliteDb | PgStateDb
    if is_postgres(target):
        db = PgStateDb(str(target))
    elif Path(target).exists():
        db = SqliteDb(target, "", pragmas=(), busy_timeout_s=10)
    else:
        return []
    try:
        return db.all(sql, tuple(params))
    finally:
        db.close()
