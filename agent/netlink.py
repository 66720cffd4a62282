"""Kernel network state for the agent: links, counters, addresses, neighbours.

Addresses come from netifaces; byte/error/drop counters from psutil (through agent.hostinfo);
admin/carrier state from the interface's two sysfs flags (psutil has them only for every
interface at once, with MTU, duplex and speed ioctls each: too dear once a second per uplink);
neighbours from iproute2's JSON; ``iproute()`` hands out the shared
pyroute2 IPRoute for code that changes or reads routes and rules. This is the only module in
agent/ that imports pyroute2 and netifaces; both are imported on first use.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from agent import hostinfo, sysexec

log = logging.getLogger(__name__)

SYS_NET = Path("/sys/class/net")
IFF_UP = 0x1


@dataclass(frozen=True)
class LinkState:
    """Admin/carrier state and counters of one interface."""

    name: str
    exists: bool
    admin_up: bool = False
    carrier: bool = False
    counters: tuple[tuple[str, int], ...] = ()

    def counter(self, key: str) -> int | None:
        """One counter by name (rx_bytes, tx_dropped, ...), None when unknown."""
        return dict(self.counters).get(key)


@dataclass(frozen=True)
class Neighbour:
    """One neighbour-table entry."""

    ifindex: int
    ip: str
    mac: str
    state: str


@cache
def _netifaces() -> Any:
    """netifaces (the netifaces-plus distribution, or Debian's python3-netifaces)."""
    import netifaces
    return netifaces


def ifindex(ifname: str) -> int | None:
    """Interface index, None when the interface does not exist."""
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        return None


def _admin_carrier(ifname: str, root: Path) -> tuple[bool, bool] | None:
    """(admin up, carrier) from sysfs; None when the interface does not exist."""
    if not ifname or "/" in ifname or ifname in (".", ".."):
        return None
    try:
        flags = int((root / ifname / "flags").read_text(), 16)
    except (OSError, ValueError):
        return None
    try:
        carrier = (root / ifname / "carrier").read_text().strip() == "1"
    except OSError:  # EINVAL while the link is admin-down
        carrier = False
    return bool(flags & IFF_UP), carrier


def link_state(ifname: str, root: Path = SYS_NET) -> LinkState:
    """Admin state, carrier and counters of ``ifname`` (exists=False if absent); without
    psutil the state is still known, only the counters are missing."""
    state = _admin_carrier(ifname, root)
    if state is None:
        return LinkState(ifname, exists=False)
    try:
        counters = hostinfo.nic_counters(ifname) or {}
    except Exception as exc:  # psutil missing, /proc/net/dev unreadable: no counters
        log.debug("counters of %s unavailable: %r", ifname, exc)
        counters = {}
    return LinkState(ifname, True, admin_up=state[0], carrier=state[1],
                     counters=tuple(counters.items()))


def neighbours(ifname: str | None = None) -> list[Neighbour]:
    """Neighbour entries (IPv4 and IPv6) with a link-layer address, optionally of one
    interface only, from iproute2's JSON (``ip -j neigh``: keeps pyroute2's ~23 MB out of the
    probe process); OSError when the interface or the source is missing."""
    want = ifindex(ifname) if ifname else None
    if ifname and want is None:
        raise FileNotFoundError(f"no interface {ifname}")
    res = sysexec.run(["ip", "-j", "neigh", "show", *(["dev", ifname] if ifname else [])],
                      timeout=2.0)
    try:
        if not res.ok:
            raise ValueError(res.stderr.strip()[:80] or f"rc={res.rc}")
        entries = json.loads(res.stdout or "[]")
    except ValueError as exc:
        raise OSError(f"neighbour table unavailable: {exc}") from exc
    out = []
    for e in entries if isinstance(entries, list) else []:
        dst, mac, state = e.get("dst"), e.get("lladdr"), e.get("state") or ["NONE"]
        idx = want if want is not None else ifindex(str(e.get("dev")))
        if dst and idx and isinstance(mac, str) and len(mac) == 17:
            out.append(Neighbour(idx, str(dst), mac.lower(), str(state[0]).upper()))
    return out


def addresses(ifname: str, family: int = socket.AF_INET) -> list[str]:
    """Addresses (no prefix length) configured on ``ifname``; primary first; [] when unknown."""
    try:
        entries = _netifaces().ifaddresses(ifname).get(family, [])
    except ValueError:  # no such interface
        return []
    except ImportError as exc:  # no netifaces: addresses unavailable, never a crash
        log.warning("addresses of %s unavailable: %r", ifname, exc)
        return []
    return [str(e["addr"]).split("%")[0] for e in entries if e.get("addr")]


def _new_iproute() -> Any:
    """A new pyroute2 IPRoute (imported on first use: ~20 MB, only where netlink is needed)."""
    from pyroute2 import IPRoute
    return IPRoute()


_ipr_lock = threading.Lock()
_ipr: Any = None


def iproute() -> Any:
    """A shared pyroute2 IPRoute for code that changes kernel state (imported on first use)."""
    global _ipr
    with _ipr_lock:
        if _ipr is None:
            _ipr = _new_iproute()
        return _ipr


def close_iproute() -> None:
    """Close the shared IPRoute, if one was opened (agent shutdown); a later call reopens it."""
    global _ipr
    with _ipr_lock:
        ipr, _ipr = _ipr, None
    if ipr is not None:
        ipr.close()
