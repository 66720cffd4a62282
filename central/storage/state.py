"""Where central keeps commands, the leader lease, alerts and NOC data (SQLite for now)."""

from __future__ import annotations

from central.config import ENV_STATE_DB, CentralConfig, ConfigError
from central.storage.url import POSTGRESQL, SQLITE, scheme, sqlite_file

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
