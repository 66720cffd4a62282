"""Users on the node: hostapd stations, dnsmasq leases, LAN neighbours, openNDS sessions.

Every source is optional; all are joined by lower-case MAC. ``total`` counts devices present
now (associated, or a REACHABLE/DELAY/PROBE neighbour, or portal-authenticated); leases only
count towards it when no presence source exists. No MAC leaves the node: the daily-unique
figure is a count of salted hashes kept in memory and reset at local midnight.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent import netlink, sysexec
from agent.clock import wall_s
from agent.config import UsersSection
from agent.probes.base import NotApplicable
from agent.probes.hostapd import HostapdCtrl, HostapdError, Station, socket_paths

log = logging.getLogger(__name__)

PRESENT_STATES = frozenset({"REACHABLE", "DELAY", "PROBE"})
MAX_LEASE_LINES = 100_000
IDLE_MSEC = 120_000  # a station silent this long is reported as idle (still associated)


@dataclass
class LeaseScan:
    """Active leases of a dnsmasq lease file (MACs, addresses) and how many lines were unusable."""

    macs: set[str] = field(default_factory=set)
    ips: list[str] = field(default_factory=list)  # addresses of the active leases, as written
    malformed: int = 0


def _is_mac(text: str) -> bool:
    parts = text.split(":")
    return len(parts) == 6 and all(len(p) == 2 and all(c in "0123456789abcdef" for c in p)
                                   for p in parts)


def parse_leases(text: str, now: float) -> LeaseScan:
    """Parse dnsmasq leases (``expiry mac ip host clientid``); skip and count bad lines."""
    scan = LeaseScan()
    for line in text.splitlines()[:MAX_LEASE_LINES]:
        fields = line.split()
        if not fields or fields[0] == "duid":  # blank line or the DHCPv6 server DUID
            continue
        mac = fields[1].lower() if len(fields) >= 4 else ""
        if not fields[0].isdigit() or not _is_mac(mac):
            scan.malformed += 1
            continue
        expiry = int(fields[0])
        if expiry == 0 or expiry > now:  # 0 = infinite lease
            scan.macs.add(mac)
            scan.ips.append(fields[2])
    return scan


def read_leases(path: str, now: float) -> LeaseScan:
    """Parse a dnsmasq lease file (OSError if it cannot be read)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_leases(fh.read(), now)


def parse_ndsctl(text: str) -> set[str]:
    """MACs of authenticated clients in ``ndsctl json`` output."""
    doc = json.loads(text)
    clients = doc.get("clients", {}) if isinstance(doc, dict) else {}
    items = clients.values() if isinstance(clients, dict) else clients
    return {str(c.get("mac", "")).lower() for c in items
            if isinstance(c, dict) and str(c.get("state", "")).lower() == "authenticated"
            and c.get("mac")}


class DailyUnique:
    """Count of distinct devices seen today, as salted hashes; resets at local midnight."""

    def __init__(self, day: Callable[[], str] = lambda: time.strftime("%Y-%m-%d")) -> None:
        self._day_fn = day
        self._day = ""
        self._salt = b""
        self._seen: set[bytes] = set()

    def add(self, macs: set[str]) -> int:
        """Record these MACs and return today's distinct count."""
        today = self._day_fn()
        if today != self._day:
            self._day, self._salt, self._seen = today, os.urandom(16), set()
        for mac in macs:
            self._seen.add(hashlib.blake2b(mac.encode(), key=self._salt, digest_size=8).digest())
        return len(self._seen)


class UsersProbe:
    """Joins every available user source into associated/authenticated/leases/total."""

    name = "users"

    def __init__(self, cfg: UsersSection, daily: DailyUnique | None = None) -> None:
        self.cfg = cfg
        self.daily = daily or DailyUnique()

    def _hostapd(self, notes: list[str]) -> set[str] | None:
        macs: set[str] = set()
        stations: dict[str, Station] = {}
        answered = 0
        for path in socket_paths(self.cfg.hostapd_ctrl):
            try:
                with HostapdCtrl(path, self.cfg.hostapd_timeout_s) as ctrl:
                    stations |= {s.mac: s for s in ctrl.stations() if s.associated}
                answered += 1
            except HostapdError as exc:
                status = "timeout" if exc.reason == "timeout" else "unavailable"
                notes.append(f"hostapd {path}: {status} ({exc.reason})")
        if not answered:
            return None
        macs = set(stations)
        signals = [s.signal_dbm for s in stations.values() if s.signal_dbm is not None]
        idle = sum(1 for s in stations.values() if (s.inactive_msec or 0) > IDLE_MSEC)
        notes.append(f"hostapd: {len(macs)} associated, "
                     f"{sum(s.authorized for s in stations.values())} authorized, "
                     f"{idle} idle > {IDLE_MSEC // 1000}s"
                     + (f", median signal {statistics.median(signals):.0f} dBm" if signals else ""))
        return macs

    def _leases(self, notes: list[str]) -> set[str] | None:
        if not self.cfg.dnsmasq_leases:
            return None
        try:
            scan = read_leases(self.cfg.dnsmasq_leases, wall_s())
        except OSError as exc:
            notes.append(f"leases: unavailable ({exc.strerror})")
            return None
        if scan.malformed:
            notes.append(f"leases: {scan.malformed} malformed line(s) skipped")
        return scan.macs

    def _neighbours(self, notes: list[str]) -> set[str] | None:
        if not self.cfg.lan_iface:
            return None
        try:
            entries = netlink.neighbours(self.cfg.lan_iface)
        except OSError as exc:
            notes.append(f"neighbours {self.cfg.lan_iface}: unavailable ({exc})")
            return None
        return {n.mac for n in entries if n.state in PRESENT_STATES}

    def _portal(self, notes: list[str]) -> set[str] | None:
        exe = sysexec.which(self.cfg.ndsctl) if self.cfg.ndsctl else None
        if exe is None:
            notes.append("ndsctl: unavailable")
            return None
        res = sysexec.run([exe, "json"], timeout=self.cfg.hostapd_timeout_s * 4)
        try:
            if not res.ok:
                raise ValueError(res.stderr.strip()[:80] or f"rc={res.rc}")
            return parse_ndsctl(res.stdout)
        except (ValueError, AttributeError) as exc:
            notes.append(f"ndsctl: {'timeout' if res.timed_out else 'failed'} ({exc})")
            return None

    def collect(self) -> dict[str, Any]:
        """One reading of every user source, deduplicated by MAC."""
        notes: list[str] = []
        assoc = self._hostapd(notes)
        leases = self._leases(notes)
        neigh = self._neighbours(notes)
        auth = self._portal(notes)
        if all(s is None for s in (assoc, leases, neigh, auth)):
            raise NotApplicable("no user source here: " + "; ".join(notes))
        present = [s for s in (assoc, neigh, auth) if s is not None]
        devices = set().union(*present) if present else set(leases or ())
        counts = {k: len(v) if v is not None else None for k, v in
                  (("associated", assoc), ("authenticated", auth), ("leases", leases))}
        counts |= {"total": len(devices), "daily_unique": self.daily.add(devices)}
        if neigh is not None:
            counts["neighbours"] = len(neigh)
        return {"users": counts, "detail": "; ".join(notes)}
