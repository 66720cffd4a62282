"""Where central's data lives: the one parser of its database URLs, and the state database.

``sqlite:///abs/path`` and ``sqlite:////abs/path`` are absolute, ``sqlite:relative/path`` is
relative to the working directory; ``postgresql://...`` and ``postgres://...`` go to libpq
unchanged. Callers turn a wrong scheme into their own error (StorageError, ConfigError, ...).
The state tables (commands, leader lease, alerts, NOC) are SQLite only for now: ``state_path``.
"""

from __future__ import annotations

from central.config import ENV_STATE_DB, CentralConfig, ConfigError

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


PG_STATE_ERROR = (
    f"storage.url is PostgreSQL: set {ENV_STATE_DB}=sqlite:///... for commands, leader lease, "
    "alerts and NOC (PostgreSQL for these is not implemented yet; one central machine only)")


def state_path(cfg: CentralConfig) -> str:
    """SQLite file of the command, lease, alert and NOC tables; ConfigError if there is none.

    storage.state_url (KOTANET_STATE_DB) when set, else the main storage when it is SQLite.
    """
    url = cfg.storage.state_url or cfg.storage.url
    if scheme(url) == SQLITE:
        return sqlite_file(url)
    if scheme(cfg.storage.url) == POSTGRESQL:
        raise ConfigError(PG_STATE_ERROR)
    raise ConfigError(f"storage.url: unsupported scheme {url.split(':', 1)[0]!r}; set "
                      f"{ENV_STATE_DB}=sqlite:///... for commands, alerts and NOC")
