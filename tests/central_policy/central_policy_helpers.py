"""A small Sampit fleet and a tick driver for the central policy engine tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from central.policy import (
    NodeObs,
    Override,
    PolicyConfig,
    PolicyInputs,
    PolicyState,
    Schedule,
    SiteInfo,
    ThrottleDecision,
    UplinkObs,
    Upstream,
    decide,
)

WIB = dt.timezone(dt.timedelta(hours=7))
TICK_MS = 10_000

SITES = {s.node: s for s in (
    SiteInfo("office-bupati", "kantor-bupati", "office", 50_000, 20_000, "core"),
    SiteInfo("office-dinkes", "dinkes", "office", 30_000, 10_000, "core"),
    SiteInfo("park-tamankota", "taman-kota", "park", 40_000, 10_000, "core"),
    SiteInfo("park-lingkar", "taman-lingkar", "park", 20_000, 5_000, "core"),
    SiteInfo("office-baamang", "kec-baamang", "office", 20_000, 10_000, "baamang"),
    SiteInfo("park-baamang", "taman-baamang", "park", 20_000, 10_000, "baamang"),
)}
UPSTREAMS = {"core": Upstream("core", 100_000, 50_000),
             "baamang": Upstream("baamang", 20_000, 10_000)}


def wib_ms(y: int, mo: int, d: int, h: int, mi: int = 0) -> int:
    """Epoch ms of a wall-clock time in Sampit."""
    return int(dt.datetime(y, mo, d, h, mi, tzinfo=WIB).timestamp() * 1000)


def obs(node: str, now_ms: int, users: int = 10, rtt: float = 30.0, loss: float = 0.0,
        online: bool = True) -> NodeObs:
    """One node's latest sample."""
    return NodeObs(node, now_ms, online, users, (UplinkObs("wan", True, rtt, loss),))


class Driver:
    """Feeds the engine one tick every 10 s and records every decision."""

    def __init__(self, start_ms: int, cfg: PolicyConfig | None = None,
                 schedule: Schedule | None = None, epoch: int = 1) -> None:
        self.now_ms, self.cfg, self.epoch = start_ms, cfg, epoch
        self.schedule = schedule or Schedule()
        self.state = PolicyState()
        self.history: dict[str, list[ThrottleDecision]] = {n: [] for n in SITES}
        self.overrides: list[Override] = []

    def tick(self, observe: Callable[[str, int], NodeObs]) -> Mapping[str, ThrottleDecision]:
        """One policy tick with observations from ``observe(node, now_ms)``."""
        inp = PolicyInputs(self.now_ms, self.epoch, SITES, UPSTREAMS,
                           {n: observe(n, self.now_ms) for n in SITES}, self.schedule,
                           tuple(self.overrides))
        out, self.state = decide(inp, self.state, self.cfg)
        for node, dec in out.items():
            self.history[node].append(dec)
        self.now_ms += TICK_MS
        return out

    def run(self, minutes: float, observe: Callable[[str, int], NodeObs]) -> Mapping[str, ThrottleDecision]:
        """Tick for ``minutes``; the last tick's decisions."""
        out: Mapping[str, ThrottleDecision] = {}
        for _ in range(int(minutes * 60_000 // TICK_MS)):
            out = self.tick(observe)
        return out

    def changes(self, node: str) -> int:
        """How many times the node's throttle changed after its first decision."""
        return sum(1 for d in self.history[node][1:] if d.changed)
