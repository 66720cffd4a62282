"""Route actuator: the agent's own table, one atomic default-route replace, verify, roll back.

Layout (works beside NetworkManager/dhcpcd, which own table ``main``; we never touch main):

    <prio>    from all lookup main suppress_prefixlength 0   (LAN/connected routes win,
                                                             main's default routes do not)
    <prio+1>  from all lookup <table>                        (our single default route)
    32766     from all lookup main                           (main's defaults: fallback if
                                                             the agent is stopped)

NAT follows the active uplink by itself: the nftables rule is ``oifname { uplinks }
masquerade``, evaluated for the first packet of each connection after routing, so new
connections take the address of whichever uplink the route now points at. Existing connections
keep their old mapping in conntrack, which is why the old uplink's entries are deleted.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import netlink, sysexec
from agent.config import AgentConfig, UplinkSection

log = logging.getLogger(__name__)

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


def _count_deleted(text: str) -> int:
    """Number from conntrack's 'N flow entries have been deleted.' message."""
    for word in text.split():
        if word.isdigit():
            return int(word)
    return 0


class RouteActuator:
    """Owns ``cfg.failover.table`` and its two rules; switches the default route atomically."""

    def __init__(self, cfg: AgentConfig, ipr: Any = None,
                 run: Callable[..., sysexec.ExecResult] = sysexec.run,
                 sysctl_root: Path = Path("/proc/sys")) -> None:
        self.cfg = cfg
        self.table = cfg.failover.table
        self.prio = cfg.failover.rule_priority
        self.uplinks = {u.name: u for u in cfg.uplinks}
        self._ipr = ipr
        self._run = run
        self._sysctl = sysctl_root
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
            self._write_sysctl(f"net/ipv4/conf/{up.iface}/ignore_routes_with_linkdown", "1")
            self._write_sysctl(f"net/ipv4/conf/{up.iface}/rp_filter", "2")
            self._addresses(up)
            self.gateway(up)

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
        """Delete conntrack entries whose reply goes to the uplink's (NAT) address."""
        total = 0
        for addr in self._addresses(up):
            res = self._run(["conntrack", "-D", "-f", "ipv4", "-q", addr], 5.0)
            if res.missing:
                log.warning("conntrack(8) missing: old flows of %s keep their NAT", up.name)
                return 0
            total += _count_deleted(res.stderr)
        return total
