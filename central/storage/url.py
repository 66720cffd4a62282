"""The one parser of central's database URLs: ``sqlite:`` files and ``postgresql://`` servers.

``sqlite:///abs/path`` and ``sqlite:////abs/path`` are absolute, ``sqlite:relative/path`` is
relative to the working directory; ``postgresql://...`` and ``postgres://...`` go to libpq
unchanged. Callers turn a wrong scheme into their own error (StorageError, ConfigError, ...).
"""

from __future__ import annotations

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
_POSTGRES_ALIASES = ("postgresql", "postgres")


def scheme(url: str) -> str:
    """``sqlite``, ``postgresql`` (also for ``postgres:``) or the URL's own scheme."""
    raw = url.split(":", 1)[0]
    return POSTGRESQL if raw in _POSTGRES_ALIASES else raw


def sqlite_file(url: str) -> str:
    """The file path of a ``sqlite:`` URL ('' when it names none); ValueError for others."""
    if scheme(url) != SQLITE:
        raise ValueError(f"not a sqlite: URL (scheme {scheme(url)!r})")
    path = url.removeprefix("sqlite:")
    return "/" + path.lstrip("/") if path.startswith("//") else path
