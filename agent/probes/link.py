"""Link health of one uplink: carrier, RTT/loss/jitter through that uplink, counter rates."""

from __future__ import annotations

import logging
import statistics
from typing import Any

from agent import netlink
from agent.clock import Clock, monotonic, wall_ms
from agent.config import UplinkSection
from agent.probes.reach import Binding, RoundResult, icmp_round
from agent.probes.sockreach import sock_round

log = logging.getLogger(__name__)

METERED_KINDS = ("lte",)  # a standby uplink of these kinds is probed slowly (data costs money)
RATE_COUNTERS = ("rx_errors", "tx_errors", "rx_dropped", "tx_dropped")
BINDING_TTL_S = 30.0  # re-read the uplink's source address this often (DHCP may change it)


def summarise(rnd: RoundResult) -> dict[str, float | None]:
    """Median RTT, loss and jitter (mean |delta| of consecutive RTTs per target) of a round."""
    sent = sum(len(v) for v in rnd.rtts.values())
    got = [r for v in rnd.rtts.values() for r in v if r is not None]
    deltas = []
    for series in rnd.rtts.values():
        ok = [r for r in series if r is not None]
        deltas += [abs(b - a) for a, b in zip(ok, ok[1:], strict=False)]
    return {
        "rtt_ms": round(statistics.median(got), 3) if got else None,
        "loss_pct": round(100.0 * (sent - len(got)) / sent, 2) if sent else None,
        "jitter_ms": round(statistics.fmean(deltas), 3) if deltas else (0.0 if got else None),
    }


def round_detail(rnd: RoundResult) -> str:
    """Per-target loss and failure reasons, e.g. ``loss 192.0.2.1=0% ...; timeout=2``."""
    per = " ".join(f"{t}={100 * sum(r is None for r in v) // max(1, len(v))}%"
                   for t, v in rnd.rtts.items())
    errs = " ".join(f"{k}={v}" for k, v in sorted(rnd.errors.items()))
    return f"loss {per}" + (f"; {errs}" if errs else "")


class LinkProbe:
    """Probes one configured uplink; a metered standby uplink is probed at the slow interval."""

    def __init__(self, up: UplinkSection, active: bool = False,
                 clock: Clock = monotonic) -> None:
        self.cfg = up
        self.name = f"link:{up.name}"
        self.active = active
        self.clock = clock
        self._last_round_at: float | None = None
        self._last_stats: dict[str, float | None] = {}
        self._round_detail = ""
        self._prev_counters: tuple[float, dict[str, int]] | None = None
        self._prev_up: bool | None = None
        self._binding: tuple[float, Binding] | None = None

    def set_active(self, active: bool) -> None:
        """Tell the probe whether its uplink carries the default route (failover calls this)."""
        self.active = active

    @property
    def standby(self) -> bool:
        """True when this uplink is a metered backup that is not in use."""
        return not self.active and self.cfg.kind in METERED_KINDS

    def interval_s(self) -> float:
        """Seconds between reachability rounds in the current role."""
        return self.cfg.standby_probe_interval_s if self.standby else self.cfg.probe_interval_s

    def binding(self) -> Binding:
        """Device, source address and mark that keep probes on this uplink (cached a while)."""
        now = self.clock()
        if self._binding is None or now - self._binding[0] >= BINDING_TTL_S:
            source = self.cfg.source
            if source is None:
                addrs = netlink.addresses(self.cfg.iface)
                source = addrs[0] if addrs else None
            self._binding = (now, Binding(self.cfg.iface, source, self.cfg.fwmark))
        return self._binding[1]

    def run_round(self) -> RoundResult:
        """One reachability round, bounded by probe_timeout_s; collect() reuses its figures
        until the next round is due (so failover's rounds also feed the telemetry)."""
        c = self.cfg
        started = self.clock()
        if c.method == "icmp":
            rnd = icmp_round(self.binding(), c.targets, c.probe_count, c.probe_timeout_s)
        else:
            rnd = sock_round(c.method, self.binding(), c.targets, c.probe_count,
                             c.probe_timeout_s, port=c.tcp_port)
        if any(k.startswith("send:") for k in rnd.errors):
            self._binding = None  # e.g. the address went away: re-learn next round
        self._last_round_at = started
        self._last_stats = summarise(rnd)
        self._round_detail = round_detail(rnd)
        return rnd

    def _rates(self, state: netlink.LinkState, now: float) -> dict[str, float | int]:
        cur = dict(state.counters)
        prev, self._prev_counters = self._prev_counters, (now, cur)
        if prev is None or now <= prev[0]:
            return {}
        dt = now - prev[0]
        out: dict[str, float | int] = {}
        for key, field in (("rx_bytes", "rx_bps"), ("tx_bytes", "tx_bps")):
            if key in cur and key in prev[1] and cur[key] >= prev[1][key]:
                out[field] = round((cur[key] - prev[1][key]) * 8 / dt, 1)
        for key in RATE_COUNTERS:
            if key in cur and key in prev[1] and cur[key] >= prev[1][key]:
                out[key] = cur[key] - prev[1][key]
        return out

    def collect(self) -> dict[str, Any]:
        """One sample of this uplink (a round only when due; else the last round's figures)."""
        now = self.clock()
        state = netlink.link_state(self.cfg.iface)
        up = state.exists and state.admin_up and state.carrier
        sample: dict[str, Any] = {"name": self.cfg.name, "up": up, "active": self.active}
        sample.update(self._rates(state, now) if state.exists else {})
        if not up:
            self._last_round_at = None  # probe again as soon as the carrier returns
            self._binding = None  # and re-learn the address then
            self._last_stats = {"rtt_ms": None, "loss_pct": 100.0, "jitter_ms": None}
            detail = "interface absent" if not state.exists else "no carrier"
        elif self._last_round_at is None or now - self._last_round_at >= 0.9 * self.interval_s():
            self.run_round()
            detail = self._round_detail
        else:
            role = "standby: " if self.standby else ""
            detail = f"{role}last round reused ({self._round_detail})"
        sample.update(self._last_stats)
        out: dict[str, Any] = {"uplinks": [sample], "detail": detail}
        if self._prev_up is not None and up != self._prev_up:
            out["events"] = [{"ts_ms": wall_ms(), "kind": "link_carrier",
                              "severity": "info" if up else "warning",
                              "message": f"uplink {self.cfg.name} carrier {'up' if up else 'down'}",
                              "data": {"uplink": self.cfg.name, "up": up}}]
        self._prev_up = up
        return out
