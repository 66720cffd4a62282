"""Storage backends behind one interface; open_storage() picks one from a URL."""

from __future__ import annotations

from central.storage.base import Gap, Incoming, NodeFloors, Storage, StorageError, subtract_ranges


def open_storage(url: str) -> Storage:
    """Open a backend from a URL: sqlite:///abs/path (or ////abs) or sqlite:relative/path."""
    if url.startswith("sqlite:"):
        from central.storage.sqlite import SqliteStorage

        path = url.removeprefix("sqlite:")
        if path.startswith("//"):  # sqlite:///abs and sqlite:////abs are both absolute
            path = "/" + path.lstrip("/")
        if not path:
            raise StorageError(f"storage.url {url!r}: no database path")
        return SqliteStorage(path)
    if url.startswith(("postgresql://", "postgres://")):
        from central.storage.postgres import PostgresStorage

        return PostgresStorage(url)
    scheme = url.split(":", 1)[0]
    raise StorageError(f"storage.url: unsupported scheme {scheme!r} (supported: sqlite, postgresql)")


__all__ = ["Gap", "Incoming", "NodeFloors", "Storage", "StorageError", "open_storage",
           "subtract_ranges"]
