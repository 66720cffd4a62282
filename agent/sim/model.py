"""One simulated node's world: users by time of day, fibre + LTE uplinks with trouble, Pi health.

``sim_probes(model)`` hands its pieces to a real Agent as three probes: link, users, system.
"""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agent.clock import Clock, monotonic, to_ms, wall_s
from agent.probes.base import Probe
from agent.sim.diurnal import office_level, park_level, wib_clock
from agent.sim.fleet import SimNode

log = logging.getLogger(__name__)

#: Per-round chance that trouble starts on the primary (fibre) uplink, and how long it lasts.
TROUBLE: dict[str, tuple[float, int, int]] = {
    "rtt_spike": (0.002, 3, 12),
    "loss": (0.0015, 3, 10),
    "outage": (0.0008, 6, 40),
}


@dataclass
class Trouble:
    """An ongoing problem on the fibre uplink."""

    kind: str
    rounds_left: int


class NodeModel:
    """Advances once per sampling round (whichever probe asks first) and hands out its pieces."""

    def __init__(self, node: SimNode, seed: int = 0, interval_s: float = 10.0,
                 wall: Clock = wall_s, mono: Clock = monotonic, time_warp: float = 1.0) -> None:
        self.node = node
        self.interval_s = interval_s
        self.rng = random.Random(f"{seed}:{node.node}")
        self._wall, self._mono = wall, mono
        self._t0_wall, self._t0_mono = wall(), mono()
        self.time_warp = time_warp
        self._lock = threading.Lock()
        self._last_advance: float | None = None
        self.trouble: Trouble | None = None
        self.users: dict[str, int | None] = {}
        self.uplinks: list[dict[str, Any]] = []
        self.system: dict[str, Any] = {}
        self._events: list[dict[str, Any]] = []
        self._boot_offset_s = self.rng.randint(3600, 40 * 86400)
        #: (down, up) caps in bit/s enforced by the simulated kernel (FakeTc); set by the sim CLI
        self.limits: Callable[[], tuple[float | None, float | None]] = lambda: (None, None)
        self._disk = 15.0 + self.rng.random() * 25

    def sim_time(self) -> float:
        """The simulated wall time (Unix seconds), sped up by time_warp."""
        return self._t0_wall + (self._wall() - self._t0_wall) * self.time_warp

    def snapshot(self) -> NodeModel:
        """Advance to the current round if this round has not been computed yet."""
        with self._lock:
            now = self._mono()
            if self._last_advance is None or now - self._last_advance >= 0.5 * self.interval_s:
                self._last_advance = now
                self._advance()
        return self

    def take_events(self) -> list[dict[str, Any]]:
        """Events raised since the last call (uplink trouble starting or ending)."""
        with self._lock:
            events, self._events = self._events, []
        return events

    def _event(self, kind: str, severity: str, message: str, **data: Any) -> None:
        self._events.append({"ts_ms": to_ms(self._wall()), "kind": kind,
                             "severity": severity, "message": message, "data": data})

    def _advance(self) -> None:
        hour, weekday = wib_clock(self.sim_time())
        site = self.node.site
        level = (park_level(hour, weekday) if site.kind == "park"
                 else office_level(hour, weekday, site.profile))
        self._step_trouble()
        self._users(level)
        self._links()
        self._sys(level, hour)

    def _step_trouble(self) -> None:
        if self.trouble is not None:
            self.trouble.rounds_left -= 1
            if self.trouble.rounds_left <= 0:
                kind = self.trouble.kind
                self.trouble = None
                self._event("uplink_recovered", "info", f"fibre recovered from {kind}",
                            uplink="fibre", trouble=kind)
            return
        for kind, (p, lo, hi) in TROUBLE.items():
            if self.rng.random() < p:
                self.trouble = Trouble(kind, self.rng.randint(lo, hi))
                sev = "warning" if kind == "outage" else "info"
                self._event("uplink_trouble", sev, f"fibre {kind.replace('_', ' ')}",
                            uplink="fibre", trouble=kind)
                break

    def _users(self, level: float) -> None:
        mu = max(0.0, level * self.node.peak_users)
        assoc = max(0, round(self.rng.gauss(mu, math.sqrt(mu) + 0.3)))
        park = self.node.site.kind == "park"
        self.users = {
            "associated": assoc,
            "authenticated": round(assoc * self.rng.uniform(0.7, 0.9)) if park else None,
            "leases": assoc + self.rng.randint(0, 3),
            "total": assoc,
        }

    def _links(self) -> None:
        t = self.trouble.kind if self.trouble else None
        fibre_up = t != "outage"
        users = self.users.get("total") or 0
        cap_bps = self.node.site.capacity_mbps * 1e6
        per_user = self.rng.lognormvariate(math.log(250e3), 0.5)
        rx = min(users * per_user, 0.95 * cap_bps if fibre_up else 20e6)
        down_cap, up_cap = self.limits()
        if down_cap is not None:
            rx = min(rx, 0.97 * down_cap)
        tx = rx * 0.15 if up_cap is None else min(rx * 0.15, 0.97 * up_cap)
        fibre = {
            "name": "fibre", "up": fibre_up, "active": fibre_up,
            "rtt_ms": None if not fibre_up else round(
                self.rng.uniform(9, 22) * (self.rng.uniform(5, 12) if t == "rtt_spike" else 1), 1),
            "loss_pct": 100.0 if not fibre_up else round(
                self.rng.uniform(5, 30) if t == "loss" else self.rng.choice([0.0] * 9 + [0.5]), 1),
            "jitter_ms": None if not fibre_up else round(self.rng.uniform(0.5, 4), 1),
            "rx_bps": round(rx) if fibre_up else 0, "tx_bps": round(tx) if fibre_up else 0,
        }
        lte = {
            "name": "lte", "up": True, "active": not fibre_up,
            "rtt_ms": round(self.rng.uniform(38, 85), 1),
            "loss_pct": self.rng.choice([0.0] * 6 + [0.5, 1.0]),
            "jitter_ms": round(self.rng.uniform(4, 15), 1),
            "rx_bps": round(rx) if not fibre_up else 800, "tx_bps": round(tx) if not fibre_up else 400,
        }
        self.uplinks = [fibre, lte]

    def _sys(self, level: float, hour: float) -> None:
        cpu = min(100.0, 4 + 38 * level + self.rng.uniform(-2, 6))
        ambient = 30 + 4 * math.exp(-0.5 * ((hour - 14) / 3) ** 2)
        self._disk = min(95.0, self._disk + 0.0001)
        elapsed = self._mono() - self._t0_mono
        self.system = {
            "cpu_pct": round(max(0.0, cpu), 1),
            "mem_pct": round(28 + 12 * level + self.rng.uniform(0, 4), 1),
            "temp_c": round(ambient + 14 + cpu * 0.25 + self.rng.uniform(-1, 1), 1),
            "disk_pct": round(self._disk, 2),
            "uptime_s": int(self._boot_offset_s + elapsed),
            "undervoltage": self.rng.random() < 0.0005,
            "throttled": False,
            "load1": round(cpu / 25, 2),
        }


#: What each simulated probe reads from the model's current round.
_PIECES: dict[str, Callable[[NodeModel], dict[str, Any]]] = {
    "link": lambda m: {"uplinks": [dict(u) for u in m.uplinks], "events": m.take_events()},
    "users": lambda m: {"users": dict(m.users)},
    "system": lambda m: {"system": dict(m.system)},
}


class SimProbe:
    """One piece of a NodeModel as a probe: link (uplinks + trouble events), users or system."""

    def __init__(self, name: str, model: NodeModel) -> None:
        if name not in _PIECES:
            raise ValueError(f"no simulated probe {name!r}")
        self.name = name
        self.model = model

    def collect(self) -> dict[str, Any]:
        """This round's piece of the model (advancing it if the round is new)."""
        return _PIECES[self.name](self.model.snapshot())


def sim_probes(model: NodeModel) -> list[Probe]:
    """The three simulated probes of one node, sharing its model."""
    return [SimProbe(name, model) for name in _PIECES]
