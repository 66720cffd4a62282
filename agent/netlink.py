"""Kernel network state for the agent: links, counters, addresses, neighbours.

Read paths are small and cheap (sysfs plus a stdlib rtnetlink dump) so the agent stays lean;
``iproute()`` lazily hands out a shared pyroute2 IPRoute for code that changes state. This is
the only module in agent/ that imports pyroute2.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SYS_NET = Path("/sys/class/net")
RTM_NEWADDR, RTM_GETADDR, RTM_NEWNEIGH, RTM_GETNEIGH = 20, 22, 28, 30
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST_DUMP = 0x1 | 0x300
NUD_NAMES = {0x01: "INCOMPLETE", 0x02: "REACHABLE", 0x04: "STALE", 0x08: "DELAY",
             0x10: "PROBE", 0x20: "FAILED", 0x40: "NOARP", 0x80: "PERMANENT"}


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


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:  # absent, or EINVAL for carrier of an admin-down link
        return None


def _proc_counters(ifname: str, proc_net_dev: Path) -> tuple[tuple[str, int], ...]:
    """Byte, error and drop counters of one interface from a single /proc/net/dev read."""
    try:
        text = proc_net_dev.read_text()
    except OSError:
        return ()
    for line in text.splitlines()[2:]:
        name, _, rest = line.partition(":")
        if name.strip() == ifname:
            f = [int(x) for x in rest.split()]
            if len(f) >= 12:  # rx: bytes packets errs drop ...; tx from field 8 on
                return (("rx_bytes", f[0]), ("tx_bytes", f[8]), ("rx_errors", f[2]),
                        ("tx_errors", f[10]), ("rx_dropped", f[3]), ("tx_dropped", f[11]))
    return ()


def link_state(ifname: str, root: Path = SYS_NET,
               proc_net_dev: Path = Path("/proc/net/dev")) -> LinkState:
    """Carrier, admin state and counters of ``ifname`` (exists=False if absent): three reads."""
    base = root / ifname
    flags = _read(base / "flags")
    if flags is None:
        return LinkState(ifname, exists=False)
    return LinkState(ifname, True, admin_up=bool(int(flags, 16) & 0x1),
                     carrier=_read(base / "carrier") == "1",
                     counters=_proc_counters(ifname, proc_net_dev))


def ifindex(ifname: str) -> int | None:
    """Interface index, None when the interface does not exist."""
    try:
        return socket.if_nametoindex(ifname)
    except OSError:
        return None


def _attrs(buf: bytes, off: int, end: int) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    while off + 4 <= end:
        alen, atype = struct.unpack_from("HH", buf, off)
        if alen < 4:
            break
        out[atype & 0x3FFF] = buf[off + 4:off + alen]
        off += (alen + 3) & ~3
    return out


def _dump(msg_type: int, body: bytes, reply_type: int) -> list[tuple[bytes, int]]:
    """One rtnetlink dump: (buffer, payload offset) per reply message."""
    seq = int.from_bytes(os.urandom(4), "little") & 0x7FFFFFFF
    hdr = struct.pack("IHHII", 16 + len(body), msg_type, NLM_F_REQUEST_DUMP, seq, 0)
    out: list[tuple[bytes, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as sk:
        sk.settimeout(2.0)
        sk.sendto(hdr + body, (0, 0))
        for _ in range(100_000):  # bounded: a dump always ends with NLMSG_DONE
            buf = sk.recv(65536)
            off = 0
            while off + 16 <= len(buf):
                mlen, mtype, _flags, mseq, _pid = struct.unpack_from("IHHII", buf, off)
                if mlen < 16:
                    return out
                if mseq == seq:
                    if mtype == NLMSG_DONE:
                        return out
                    if mtype == NLMSG_ERROR:
                        err = -struct.unpack_from("i", buf, off + 16)[0]
                        raise OSError(err, os.strerror(err))
                    if mtype == reply_type:
                        out.append((buf[off:off + mlen], 16))
                off += (mlen + 3) & ~3
    return out


def _ip(family: int, raw: bytes) -> str:
    return socket.inet_ntop(family, raw)


def neighbours(ifname: str | None = None) -> list[Neighbour]:
    """Neighbour entries (IPv4 and IPv6), optionally of one interface only."""
    want = ifindex(ifname) if ifname else None
    if ifname and want is None:
        raise FileNotFoundError(f"no interface {ifname}")
    result = []
    for buf, off in _dump(RTM_GETNEIGH, struct.pack("BxxxiHBB", 0, 0, 0, 0, 0), RTM_NEWNEIGH):
        family, idx, state, _flags, _typ = struct.unpack_from("BxxxiHBB", buf, off)
        if want is not None and idx != want:
            continue
        attrs = _attrs(buf, off + 12, len(buf))
        dst, ll = attrs.get(1), attrs.get(2)
        if dst is None or not ll or len(ll) != 6:
            continue
        result.append(Neighbour(idx, _ip(family, dst), ll.hex(":"),
                                NUD_NAMES.get(state, f"0x{state:x}")))
    return result


def addresses(ifname: str, family: int = socket.AF_INET) -> list[str]:
    """Addresses (no prefix length) configured on ``ifname``; primary first."""
    want = ifindex(ifname)
    if want is None:
        return []
    out = []
    for buf, off in _dump(RTM_GETADDR, struct.pack("BBBBi", family, 0, 0, 0, 0), RTM_NEWADDR):
        fam, _plen, _flags, _scope, idx = struct.unpack_from("BBBBi", buf, off)
        if idx != want or fam != family:
            continue
        attrs = _attrs(buf, off + 8, len(buf))
        raw = attrs.get(2) or attrs.get(1)  # IFA_LOCAL, else IFA_ADDRESS
        if raw:
            out.append(_ip(fam, raw))
    return out


_ipr_lock = threading.Lock()
_ipr: Any = None


def iproute() -> Any:
    """A shared pyroute2 IPRoute for code that changes kernel state (imported on first use)."""
    global _ipr
    with _ipr_lock:
        if _ipr is None:
            from pyroute2.iproute.linux import IPRoute  # lazy: ~14 MB, only when needed
            _ipr = IPRoute()
        return _ipr


def close_iproute() -> None:
    """Close the shared IPRoute, if one was opened (agent shutdown); a later call reopens it."""
    global _ipr
    with _ipr_lock:
        ipr, _ipr = _ipr, None
    if ipr is not None:
        ipr.close()
