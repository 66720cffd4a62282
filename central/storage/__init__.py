"""The one persistence layer of central: telemetry backends, rollup, the state database.

``open_storage(url)`` picks a backend (``sqlite.py`` or ``postgres.py``, both behind
``base.Storage``, sharing ``_sql_backend.py`` and ``_dialect.py``) from a URL
(``location.py``, which also says where the state tables live); ``sqlite_db.py`` is the
SQLite helper of every SQLite table central keeps; ``rollup.py`` the 5-minute rollup.
"""

from __future__ import annotations

from central.storage.base import Gap, Incoming, NodeFloors, Storage, StorageError, subtract_ranges
from central.storage.location import POSTGRESQL, SQLITE, scheme, sqlite_file
from central.storage.postgres import PostgresStorage
from central.storage.sqlite import SqliteStorage


def open_storage(url: str) -> Storage:
    """Open a backend from a URL: sqlite:///abs/path (or ////abs), sqlite:relative/path or
    postgresql://..."""
    kind = scheme(url)
    if kind == SQLITE:
        path = sqlite_file(url)
        if not path:
            raise StorageError(f"storage.url {url!r}: no database path")
        return SqliteStorage(path)
    if kind == POSTGRESQL:
        return PostgresStorage(url)
    raise StorageError(f"storage.url: unsupported scheme {kind!r} (supported: sqlite, postgresql)")


__all__ = ["Gap", "Incoming", "NodeFloors", "Storage", "StorageError", "open_storage",
           "subtract_ranges"]
