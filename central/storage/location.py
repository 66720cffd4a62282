"""Where central's data lives: the one parser of its database URLs, and the state database.

``sqlite:///abs/path`` and ``sqlite:////abs/path`` are absolute, ``sqlite:relative/path`` is
relative to the working directory; ``postgresql://...`` and ``postgres://...`` go to libpq
unchanged. Callers turn a wrong scheme into their own error (StorageError, ConfigError, ...).
The state tables (commands, leader lease, alerts, NOC) follow ``state_path``: SQLite or PostgreSQL.
"""

from __future__ import annotations

from central.config import CentralConfig, ConfigError

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


def state_path(cfg: CentralConfig) -> str:
    """Where the command, lease, alert, incident, outbox and NOC tables live: a SQLite file
    path or a PostgreSQL URL (central.storage.statedb opens either); ConfigError otherwise.

    storage.state_url (KOTANET_STATE_DB) when set, else the main storage.url.
    """
    url = cfg.storage.state_url or cfg.storage.url
    if scheme(url) == SQLITE:
        return sqlite_file(url)
    if scheme(url) == POSTGRESQL:
        return url
    raise ConfigError(f"storage.url: unsupported scheme {url.split(':', 1)[0]!r}; use "
                      "sqlite:///... or postgresql://...")
