"""The few agent.toml values the light tools need, read without pydantic (fast, small RSS).

`status` and the status page must start quickly on a Pi Zero and stay small, so they read the
TOML file as it is and take only the status file path and the interfaces. A missing or broken
file gives the defaults; `kotanet-agent --check` is the place for validation.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path
from typing import Any

from agent.fieldtools.snapfile import DEFAULT_PATH

log = logging.getLogger(__name__)

DEFAULT_CONFIG = "/etc/kotanet/agent.toml"
DEFAULT_LAN = "br0"


def raw_config(path: str | Path | None) -> dict[str, Any]:
    """The TOML file as a dict ({} when it is absent or unreadable, logged at debug)."""
    if not path:
        return {}
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        log.debug("config %s not read: %s", path, exc)
        return {}


def _section(raw: dict[str, Any], name: str) -> dict[str, Any]:
    sec = raw.get(name)
    return sec if isinstance(sec, dict) else {}


def status_path(raw: dict[str, Any]) -> str:
    """[agent] status_file, else the default /run/kotanet/status.json ('' = off)."""
    value = _section(raw, "agent").get("status_file", DEFAULT_PATH)
    return value if isinstance(value, str) else DEFAULT_PATH


def lan_iface(raw: dict[str, Any]) -> str:
    """The Wi-Fi/LAN interface: [shaping] lan_iface, else [users] lan_iface, else br0."""
    for name in ("shaping", "users"):
        value = _section(raw, name).get("lan_iface")
        if isinstance(value, str) and value:
            return value
    return DEFAULT_LAN


def uplink_ifaces(raw: dict[str, Any]) -> list[str]:
    """The interfaces of every [[uplinks]] entry."""
    ups = raw.get("uplinks")
    return [str(u["iface"]) for u in ups if isinstance(u, dict) and u.get("iface")] \
        if isinstance(ups, list) else []
