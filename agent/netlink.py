"""Kernel network state for the agent: links, counters, addresses, neighbours.

Addresses come from netifaces, byte/error/drop counters from psutil (through agent.hostinfo),
admin/carrier state and neighbours from pyroute2; ``iproute()`` hands out the shared pyroute2
IPRoute for code that changes state. This is the only module in agent/ that imports pyroute2
and netifaces; both are imported on first use (the status page needs only netifaces).
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

from agent import hostinfo

IFF_UP, IFF_LOWER_UP = 0x1, 0x10000
PRESENT_OPER = ("UP", "UNKNOWN")  # lo and some tunnels report UNKNOWN with a working carrier


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


_read_lock = threading.Lock()
_reader: Any = None


def _read(method: str, *args: Any, **kwargs: Any) -> list[Any]:
    """One pyroute2 read (get_links, neigh dump) on the agent's own read socket, serialised."""
    global _reader
    with _read_lock:
        if _reader is None:
            _reader = _new_iproute()
        try:
            return list(getattr(_reader, method)(*args, **kwargs))
        except OSError:
            _reader.close()  # a broken socket is reopened by the next read
            _reader = None
            raise


def link_state(ifname: str) -> LinkState:
    """Carrier, admin state and counters of ``ifname`` (exists=False if absent)."""
    idx = ifindex(ifname)
    if idx is None:
        return LinkState(ifname, exists=False)
    try:
        links = _read("get_links", index=idx)
    except Exception:  # NetlinkError ENODEV: gone between the two calls
        return LinkState(ifname, exists=False)
    if not links:
        return LinkState(ifname, exists=False)
    flags = int(links[0].get("flags") or 0)
    carrier = links[0].get("carrier")
    has_carrier = bool(flags & IFF_LOWER_UP) if carrier is None else carrier == 1
    try:
        counters = hostinfo.nic_counters(ifname) or {}
    except Exception:  # psutil missing or /proc/net/dev unreadable: counters unavailable
        counters = {}
    return LinkState(ifname, True, admin_up=bool(flags & IFF_UP), carrier=has_carrier,
                     counters=tuple(counters.items()))


def neighbours(ifname: str | None = None) -> list[Neighbour]:
    """Neighbour entries (IPv4 and IPv6) with a link-layer address, optionally of one
    interface only; OSError when the interface or the netlink source is missing."""
    want = ifindex(ifname) if ifname else None
    if ifname and want is None:
        raise FileNotFoundError(f"no interface {ifname}")
    try:
        msgs = _read("neigh", "dump", **({"ifindex": want} if want is not None else {}))
    except OSError:
        raise
    except Exception as exc:  # ImportError (no pyroute2), NetlinkError
        raise OSError(f"neighbour table unavailable: {exc!r}") from exc
    out = []
    for m in msgs:
        dst, mac = m.get("NDA_DST"), m.get("NDA_LLADDR")
        if want is not None and m.get("ifindex") != want:
            continue
        if dst and isinstance(mac, str) and len(mac) == 17:
            out.append(Neighbour(int(m.get("ifindex")), str(dst), mac.lower(),
                                 _nud_name(int(m.get("state") or 0))))
    return out


@cache
def _nud_names() -> dict[int, str]:
    """pyroute2's NUD_* state table, value -> upper-case name."""
    from pyroute2.netlink.rtnl import ndmsg
    return {v: k.removeprefix("NUD_") for k, v in vars(ndmsg).items()
            if k.startswith("NUD_") and isinstance(v, int) and k != "NUD_NONE"}


def _nud_name(state: int) -> str:
    return _nud_names().get(state, f"0x{state:x}")


def addresses(ifname: str, family: int = socket.AF_INET) -> list[str]:
    """Addresses (no prefix length) configured on ``ifname``; primary first; [] when unknown."""
    ni = _netifaces()
    try:
        entries = ni.ifaddresses(ifname).get(family, [])
    except ValueError:  # no such interface
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
    """Close the shared IPRoute and the read socket, if open (agent shutdown); a later call
    reopens them."""
    global _ipr, _reader
    with _ipr_lock:
        ipr, _ipr = _ipr, None
    with _read_lock:
        rd, _reader = _reader, None
    for sock in (ipr, rd):
        if sock is not None:
            sock.close()
