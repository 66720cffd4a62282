"""The NOC's settings and shared state, stored in the app under one typed key."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from central.noc.store import NocStore
from central.storage import Storage

STATIC_DIR = Path(__file__).parent / "static"


@dataclass
class NocSettings:
    """Deployment choices of the NOC dashboard (all optional)."""

    db_path: str | None = None  # default: central's sqlite storage path
    tile_url: str | None = None  # None: keep the stored setting ('' = no tiles, markers only)
    secure_cookies: bool = False  # True behind HTTPS termination; set automatically on https
    sites_file: str | None = None  # JSON {"sites": [{site, name, kind, lat, lon, capacity_mbps}]}
    session_idle_s: float = 12 * 3600
    poll_s: float = 0.5
    slow_refresh_s: float = 15.0
    login_max_failures: int = 5
    login_window_s: float = 300.0
    login_checks_per_s: float = 2.0  # password checks started per second, at most
    login_checks_burst: int = 6  # ... and at once after a calm spell

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NocSettings:
        """Settings from KOTANET_NOC_DB, _TILE_URL, _SITES_FILE and _SECURE_COOKIES."""
        env = os.environ if env is None else env
        return cls(db_path=env.get("KOTANET_NOC_DB") or None,
                   tile_url=env.get("KOTANET_NOC_TILE_URL"),
                   sites_file=env.get("KOTANET_NOC_SITES_FILE") or None,
                   secure_cookies=env.get("KOTANET_NOC_SECURE_COOKIES", "").lower()
                   in ("1", "true", "yes"))


@dataclass
class Noc:
    """Everything the NOC handlers share."""

    settings: NocSettings
    store: NocStore
    storage: Storage
    grace_ms: int
    admin_token: str | None
    extra: dict[str, Any] = field(default_factory=dict)


NOC = web.AppKey("noc", Noc)
