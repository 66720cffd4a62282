"""Route actuator: the agent's own table, one atomic default-route replace, verify, roll back.

Beside NetworkManager/dhcpcd (they own table ``main``; we never touch it):
    <prio>    from all lookup main suppress_prefixlength 0   (LAN routes yes, main's defaults no)
    <prio+1>  from all lookup <table>                        (our single default route)
    32766     from all lookup main                           (fallback if the agent stops)

NAT follows the active uplink by itself: nftables ``oifname { uplinks } masquerade`` runs for
the first packet of each connection after routing, so new connections take the address of the
uplink the route now points at. The kernel kills a masqueraded connection's entry when its
next packet leaves by another interface; a plain ``snat`` mapping, and entries no packet has
hit since the switch, stay in conntrack, which is why the old uplink's entries are deleted.
Also here: the netlink carrier watcher.
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import netlink, sysexec
from agent.config import AgentConfig, UplinkSection

log = logging.getLogger(__name__)
#: conntrack -D runs per address until one reports its count (entries vanish under it).
CONNTRACK_ATTEMPTS = 3

MAIN = 254
DEFAULT_DST = "0.0.0.0/0"


class RouteError(RuntimeError):
    """A route change that could not be applied or verified."""


@dataclass(frozen=True)
class ApplyResult:
    """Outcome of one switch."""

    ok: bool
    uplink: str
    previous: str | None
    detail: str = ""
    rolled_back: bool = False
    flushed: int = 0
    duration_ms: float = 0.0


def _count_deleted(text: str) -> int | None:
    """N from conntrack's 'N flow entries have been deleted.'; None when the run did not get
    that far (e.g. 'Operation failed: such conntrack doesn't exist': an entry vanished between
    conntrack's dump and its delete, and it stopped there)."""
    words = text.split()
    for i, word in enumerate(words[:-1]):
        if word.isdigit() and words[i + 1] == "flow":
            return int(word)
    return None


class RouteActuator:
    """Owns ``cfg.failover.table`` and its two rules; switches the default route atomically."""

    def __init__(self, cfg: AgentConfig, ipr: Any = None,
                 run: Callable[..., sysexec.ExecResult] = sysexec.run,
                 sysctl_root: Path = Path("/proc/sys")) -> None:
        self.table, self.prio = cfg.failover.table, cfg.failover.rule_priority
        self.uplinks = {u.name: u for u in cfg.uplinks}
        self._ipr, self._run, self._sysctl = ipr, run, sysctl_root
        self._gw_cache: dict[str, str | None] = {}
        self._addr_cache: dict[str, list[str]] = {}
        self.verify_target = next((t for u in cfg.uplinks for t in u.targets), "1.1.1.1")

    @property
    def ipr(self) -> Any:
        """The pyroute2 socket (the shared one from agent.netlink unless injected)."""
        if self._ipr is None:
            self._ipr = netlink.iproute()
        return self._ipr

    # ------------------------------------------------------------ set-up
    def setup(self) -> None:
        """Create the two rules (idempotent) and set the uplink sysctls."""
        have = {(r.get("priority"), r.get("table"), r.get("suppress_prefixlen"))
                for r in self.ipr.rule("dump", family=socket.AF_INET)}
        if (self.prio, MAIN, 0) not in have:
            self.ipr.rule("add", priority=self.prio, table=MAIN, suppress_prefixlen=0)
        if not any(p == self.prio + 1 and t == self.table for p, t, _ in have):
            self.ipr.rule("add", priority=self.prio + 1, table=self.table)
        self._write_sysctl("net/ipv4/conf/all/ignore_routes_with_linkdown", "1")
        for up in self.uplinks.values():
            self._prepare(up)
            self._addresses(up)
            self.gateway(up)

    def _prepare(self, up: UplinkSection) -> None:
        """Per-uplink sysctls (again at each switch: an LTE modem may appear after start)."""
        if (self._sysctl / f"net/ipv4/conf/{up.iface}").exists():
            self._write_sysctl(f"net/ipv4/conf/{up.iface}/ignore_routes_with_linkdown", "1")
            self._write_sysctl(f"net/ipv4/conf/{up.iface}/rp_filter", "2")

    def teardown(self) -> None:
        """Remove our rules and our table's default route (main is never touched)."""
        for prio in (self.prio, self.prio + 1):
            for _ in range(10):  # bounded: at most a few duplicates
                try:
                    self.ipr.rule("del", priority=prio, family=socket.AF_INET)
                except Exception:
                    break
        try:
            self.ipr.route("del", dst=DEFAULT_DST, table=self.table)
        except Exception:  # nothing to delete
            log.debug("no default route in table %s", self.table)

    def _write_sysctl(self, key: str, value: str) -> None:
        try:
            (self._sysctl / key).write_text(value)
        except OSError as exc:
            log.warning("sysctl %s=%s failed: %s", key.replace("/", "."), value, exc)

    # ------------------------------------------------------------ reading
    def _ifindex(self, iface: str) -> int:
        idx = netlink.ifindex(iface)
        if idx is None:
            raise RouteError(f"no interface {iface}")
        return idx

    def gateway(self, up: UplinkSection) -> str | None:
        """The uplink's gateway: configured, else main's default via that interface (cached)."""
        if up.gateway:
            return up.gateway
        idx = netlink.ifindex(up.iface)
        if idx is not None:
            best: tuple[int, str] | None = None
            for r in self.ipr.route("dump", family=socket.AF_INET, table=MAIN):
                gw = r.get("gateway")
                if r.get("dst_len") == 0 and r.get("oif") == idx and gw:
                    cand = (r.get("priority") or 0, gw)
                    best = cand if best is None or cand < best else best
            if best is not None:
                self._gw_cache[up.name] = best[1]
        return self._gw_cache.get(up.name)

    def _addresses(self, up: UplinkSection) -> list[str]:
        addrs = netlink.addresses(up.iface)
        if addrs:
            self._addr_cache[up.name] = addrs
        return self._addr_cache.get(up.name, [])

    def read_default(self) -> tuple[int, str | None] | None:
        """(oif, gateway) of the default route in our table, None when there is none."""
        for r in self.ipr.route("dump", family=socket.AF_INET, table=self.table):
            if r.get("dst_len") == 0 and r.get("table") == self.table:
                return r.get("oif"), r.get("gateway")
        return None

    def current(self) -> str | None:
        """Name of the uplink our default route points at, None when unset or unknown."""
        cur = self.read_default()
        if cur is None:
            return None
        return next((u.name for u in self.uplinks.values()
                     if netlink.ifindex(u.iface) == cur[0]), None)

    # ------------------------------------------------------------ switching
    def _replace(self, oif: int, gateway: str | None) -> None:
        kw: dict[str, Any] = {"dst": DEFAULT_DST, "oif": oif, "table": self.table}
        if gateway:
            kw["gateway"] = gateway
        else:
            kw["scope"] = 253  # link scope: point-to-point uplink (LTE raw-ip) without gateway
        self.ipr.route("replace", **kw)

    def _verify(self, oif: int, gateway: str | None) -> str | None:
        got = self.read_default()
        if got is None or got[0] != oif or (gateway and got[1] != gateway):
            return f"read back {got}, wanted ({oif}, {gateway})"
        looked = self.ipr.route("get", dst=self.verify_target)
        out = looked[0].get("oif") if looked else None
        if out != oif:
            return f"route get {self.verify_target} leaves by ifindex {out}, not {oif}"
        return None

    def apply(self, name: str) -> ApplyResult:
        """Point our default route at uplink ``name``; verify; roll back on failure; flush."""
        t0 = time.monotonic()
        up = self.uplinks[name]
        previous = self.current()
        before = self.read_default()
        try:
            oif = self._ifindex(up.iface)
            self._prepare(up)
            gw = self.gateway(up)
            self._replace(oif, gw)
            problem = self._verify(oif, gw)
        except Exception as exc:  # netlink errors, missing interface
            problem = f"{type(exc).__name__}: {exc}"
        if problem:
            rolled = self._rollback(before)
            log.error("switch to %s failed (%s); rolled back=%s", name, problem, rolled)
            return ApplyResult(False, name, previous, problem, rolled_back=rolled,
                               duration_ms=(time.monotonic() - t0) * 1000)
        flushed = 0
        if previous and previous != name:
            flushed = self.flush_conntrack(self.uplinks[previous])
        ms = (time.monotonic() - t0) * 1000
        log.info("default route now via %s (%s); %d conntrack entries of %s flushed in %.1f ms",
                 name, gw or "dev", flushed, previous, ms)
        return ApplyResult(True, name, previous, "ok", flushed=flushed, duration_ms=ms)

    def _rollback(self, before: tuple[int, str | None] | None) -> bool:
        try:
            if before is None:
                self.ipr.route("del", dst=DEFAULT_DST, table=self.table)
            else:
                self._replace(before[0], before[1])
            return True
        except Exception as exc:
            log.error("rollback failed: %s", exc)
            return False

    def flush_conntrack(self, up: UplinkSection) -> int:
        """Delete conntrack entries whose reply goes to the uplink's (NAT) address; returns how
        many conntrack(8) reported deleted (a lower bound if a run was cut short)."""
        total = 0
        for addr in self._addresses(up):
            for _attempt in range(CONNTRACK_ATTEMPTS):
                res = self._run(["conntrack", "-D", "-f", "ipv4", "-q", addr], 5.0)
                if res.missing:
                    log.warning("conntrack(8) missing: old flows of %s keep their NAT", up.name)
                    return total
                count = _count_deleted(f"{res.stderr} {res.stdout}")
                if count is not None:
                    total += count
                    break
                # conntrack(8) stops at the first entry that vanished under it and reports no
                # count: what it deleted is not counted (the figure is a lower bound); go again
                log.info("conntrack -D for %s stopped early (%s); running it again", addr,
                         res.stderr.strip() or res.stdout.strip())
        return total


RTMGRP_LINK, RTM_NEWLINK, RTM_DELLINK = 0x1, 16, 17
IFF_UP, IFF_LOWER_UP, IFLA_IFNAME = 0x1, 0x10000, 3


class LinkWatcher:
    """Thread on an rtnetlink link-group socket: calls ``cb(iface, carrier)`` on changes."""

    def __init__(self, ifaces: list[str], cb: Callable[[str, bool], None]) -> None:
        self.ifaces = set(ifaces)
        self.cb = cb
        self._last: dict[str, bool] = {}
        self._stop = threading.Event()
        self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
        self._sock.bind((0, RTMGRP_LINK))
        self._thread = threading.Thread(target=self._loop, name="linkwatch", daemon=True)

    def start(self) -> None:
        """Start watching."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close the socket."""
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def parse(self, buf: bytes) -> list[tuple[str, bool]]:
        """(ifname, carrier) of every link message in one netlink datagram."""
        out, off = [], 0
        while off + 32 <= len(buf):
            mlen, mtype = struct.unpack_from("IH", buf, off)
            if mlen < 16:
                break
            if mtype in (RTM_NEWLINK, RTM_DELLINK):
                flags = struct.unpack_from("I", buf, off + 24)[0]
                a = off + 32
                while a + 4 <= off + mlen:
                    alen, atype = struct.unpack_from("HH", buf, a)
                    if alen < 4:
                        break
                    if atype & 0x3FFF == IFLA_IFNAME:
                        name = buf[a + 4:a + alen].split(b"\0")[0].decode(errors="replace")
                        up = mtype == RTM_NEWLINK and flags & (IFF_UP | IFF_LOWER_UP) == (
                            IFF_UP | IFF_LOWER_UP)
                        out.append((name, bool(up)))
                        break
                    a += (alen + 3) & ~3
            off += (mlen + 3) & ~3
        return out

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._sock], [], [], 0.2)
                if not ready:
                    continue
                buf = self._sock.recv(65536)
            except OSError as exc:  # ENOBUFS on overflow: keep going
                log.warning("link watcher: %s", exc)
                continue
            for name, up in self.parse(buf):
                if name in self.ifaces and self._last.get(name) != up:
                    self._last[name] = up
                    log.info("carrier %s %s", name, "up" if up else "down")
                    self.cb(name, up)
