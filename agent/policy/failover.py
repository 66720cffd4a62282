"""Uplink failover state machine: pure, no I/O, time passed in (see docs/architecture.md)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class State(StrEnum):
    """Health of one uplink as the failover policy sees it."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    RECOVERING = "recovering"
    FLAPPING = "flapping"


@dataclass(frozen=True)
class LinkRound:
    """One probe round of one uplink: carrier, replies/targets, rtt, loss, ICMP unreachable."""

    name: str
    carrier: bool | None = None
    replies: int = 0
    probed: int = 0
    rtt_ms: float | None = None
    loss_pct: float | None = None
    unreachable: bool = False

    def failure(self, loss_down_pct: float = 100.0) -> str | None:
        """Why this round counts as failed, or None when it passed (or carried no evidence)."""
        if self.carrier is False:
            return "carrier"
        if self.unreachable and self.replies == 0:
            return "unreachable"
        if self.probed > 0 and self.replies == 0:
            return "no_replies"
        if self.probed > 0 and 100.0 * (self.probed - self.replies) / self.probed >= loss_down_pct:
            return f"loss {100.0 * (self.probed - self.replies) / self.probed:.0f}%"
        return None

    def evidence(self) -> dict[str, Any]:
        """The round as event data."""
        return {"carrier": self.carrier, "replies": self.replies, "probed": self.probed,
                "rtt_ms": self.rtt_ms, "loss_pct": self.loss_pct, "unreachable": self.unreachable}


class Params(BaseModel):
    """Hysteresis parameters; agent.toml's [failover] section is built on these (one list)."""

    model_config = ConfigDict(frozen=True)

    down_failures: Annotated[int, Field(ge=1)] = 3
    down_window: Annotated[int, Field(ge=1)] = 5
    stable_window_s: Annotated[float, Field(ge=0)] = 30.0
    flap_threshold: Annotated[int, Field(ge=2)] = 4
    flap_window_s: Annotated[float, Field(gt=0)] = 120.0
    manual_timeout_s: Annotated[float, Field(gt=0)] = 3600.0
    loss_down_pct: Annotated[float, Field(gt=0, le=100)] = 25.0
    loss_degraded_pct: Annotated[float, Field(ge=0, le=100)] = 5.0


@dataclass(frozen=True)
class PolicyEvent:
    """Something the policy decided or noticed; the glue turns it into a protocol Event."""

    kind: str
    severity: str
    message: str
    data: dict[str, Any]


@dataclass
class FailoverDecision:
    """Result of one policy step: the uplink that should carry traffic and what happened."""

    active: str | None
    previous: str | None
    events: list[PolicyEvent] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the active uplink differs from before this step."""
        return self.active != self.previous


class _Link:
    """Per-uplink bookkeeping."""

    def __init__(self, name: str, rank: int, p: Params) -> None:
        self.name = name
        self.rank = rank
        self.health = State.UP  # UP, DEGRADED, DOWN or RECOVERING
        self.flapping = False
        self.window: deque[LinkRound] = deque(maxlen=p.down_window)
        self.good_since: float | None = None
        self.transitions: deque[float] = deque()
        self.reason: str | None = None
        self.loss_down_pct = p.loss_down_pct

    @property
    def state(self) -> State:
        return State.FLAPPING if self.flapping else self.health

    def stats(self) -> tuple[int, float | None]:
        fails = sum(1 for r in self.window if r.failure(self.loss_down_pct))
        probed = sum(r.probed for r in self.window)
        loss = 100.0 * (probed - sum(r.replies for r in self.window)) / probed if probed else None
        return fails, loss

    def evidence(self) -> dict[str, Any]:
        fails, loss = self.stats()
        return {"uplink": self.name, "state": self.state.value, "reason": self.reason,
                "window_failures": fails, "window_size": len(self.window),
                "window_loss_pct": None if loss is None else round(loss, 1),
                "rounds": [r.evidence() for r in self.window]}


class FailoverPolicy:
    """Per-uplink states, hysteresis, flap hold, manual override and choice of the active uplink.

    ``uplinks`` are names in preference order (lowest priority number first)."""

    def __init__(self, uplinks: list[str], params: Params | None = None) -> None:
        self.p = params or Params()
        self.links = {n: _Link(n, i, self.p) for i, n in enumerate(uplinks)}
        self.active: str | None = None
        self.override: tuple[str, float, str] | None = None  # target, until, kind

    def state(self, name: str) -> State:
        """The current state of one uplink (DEGRADED is a state only: no event, too chatty)."""
        return self.links[name].state

    def observe(self, now: float, rounds: list[LinkRound]) -> FailoverDecision:
        """Feed one probe round (any subset of uplinks) and choose the active uplink."""
        events: list[PolicyEvent] = []
        for r in rounds:
            link = self.links.get(r.name)
            if link is not None and (r.probed > 0 or r.carrier is False or r.unreachable):
                self._feed(now, link, r, events)
        return self._decide(now, events)

    def carrier(self, now: float, name: str, up: bool) -> FailoverDecision:
        """A netlink carrier event: loss takes the uplink down at once; gain waits for probes."""
        events: list[PolicyEvent] = []
        link = self.links.get(name)
        if link is not None and not up:
            self._feed(now, link, LinkRound(name, carrier=False), events)
        return self._decide(now, events)

    def resume(self, now: float, active: str | None) -> None:
        """Adopt the uplink found active at start; better ones must first pass a stable window."""
        self.active = active
        top = self.links.get(active) if active else None
        for link in self.links.values():
            if top is not None and link.rank < top.rank:
                link.health, link.good_since = State.RECOVERING, now

    def set_active(self, name: str | None) -> None:
        """Record what actually carries traffic (e.g. after the actuator failed to switch)."""
        self.active = name

    def tick(self, now: float) -> FailoverDecision:
        """Advance time only (stable window, flap hold, override expiry)."""
        return self._decide(now, [])

    def force(self, now: float, kind: str, target: str | None = None,
              timeout_s: float | None = None) -> FailoverDecision:
        """Manual override: 'failover' (to the best backup), 'failback' (to the primary) or 'auto'."""
        events: list[PolicyEvent] = []
        order = sorted(self.links.values(), key=lambda x: x.rank)
        if kind == "auto":
            if self.override:
                events.append(PolicyEvent("manual_override", "info", "manual override cleared",
                                          {"kind": "auto", "target": None}))
            self.override = None
            return self._decide(now, events)
        if kind not in ("failover", "failback"):
            raise ValueError(f"unknown override kind {kind!r}")
        if target is None:
            pool = order[1:] if kind == "failover" else order[:1]
            usable = [x for x in pool if x.health != State.DOWN]
            target = (usable or pool or order)[0].name
        if target not in self.links:
            raise ValueError(f"unknown uplink {target!r}")
        timeout = self.p.manual_timeout_s if timeout_s is None else timeout_s
        self.override = (target, now + timeout, kind)
        events.append(PolicyEvent("manual_override", "warning", f"manual {kind} to {target}",
                                  {"kind": kind, "target": target, "timeout_s": timeout,
                                   "target_state": self.links[target].state.value}))
        return self._decide(now, events)

    # ------------------------------------------------------------ internals
    def _transition(self, now: float, link: _Link, health: State, events: list[PolicyEvent]) -> None:
        old = link.health
        link.health = health
        if health in (State.DOWN, State.RECOVERING):
            link.transitions.append(now)
        if health == State.DOWN:
            events.append(PolicyEvent("uplink_down", "warning",
                                      f"uplink {link.name} down ({link.reason})",
                                      {**link.evidence(), "from": old.value}))
        elif health == State.RECOVERING:
            link.window.clear()
            link.good_since = now
        elif health == State.UP and old == State.RECOVERING:
            events.append(PolicyEvent("uplink_up", "info", f"uplink {link.name} up again",
                                      {"uplink": link.name, "stable_s": self.p.stable_window_s}))

    def _feed(self, now: float, link: _Link, r: LinkRound, events: list[PolicyEvent]) -> None:
        link.window.append(r)
        failed = r.failure(self.p.loss_down_pct)
        fails, loss = link.stats()
        if failed:
            link.reason = failed
        if failed == "carrier" and link.health != State.DOWN:
            self._transition(now, link, State.DOWN, events)
        elif link.health == State.DOWN:
            if not failed:
                self._transition(now, link, State.RECOVERING, events)
        elif link.health == State.RECOVERING:
            if failed:
                self._transition(now, link, State.DOWN, events)
        elif fails >= self.p.down_failures:
            self._transition(now, link, State.DOWN, events)
        elif fails or (loss is not None and loss >= self.p.loss_degraded_pct):
            if link.health == State.UP:
                self._transition(now, link, State.DEGRADED, events)
        elif link.health == State.DEGRADED:
            link.health = State.UP

    def _age(self, now: float, events: list[PolicyEvent]) -> None:
        for link in self.links.values():
            while link.transitions and link.transitions[0] <= now - self.p.flap_window_s:
                link.transitions.popleft()
            flapping = len(link.transitions) > self.p.flap_threshold
            if flapping != link.flapping:
                link.flapping = flapping
                events.append(PolicyEvent(
                    "flapping" if flapping else "flapping_ended",
                    "warning" if flapping else "info",
                    f"uplink {link.name} {'is flapping' if flapping else 'stopped flapping'}",
                    {"uplink": link.name, "transitions": len(link.transitions),
                     "threshold": self.p.flap_threshold, "window_s": self.p.flap_window_s}))
            if (link.health == State.RECOVERING and not link.flapping
                    and link.good_since is not None
                    and now - link.good_since >= self.p.stable_window_s):
                self._transition(now, link, State.UP, events)
        if self.override and now >= self.override[1]:
            events.append(PolicyEvent("manual_override", "info", "manual override expired",
                                      {"kind": "expired", "target": self.override[0]}))
            self.override = None

    def _choose(self) -> tuple[str | None, str]:
        order = sorted(self.links.values(), key=lambda x: x.rank)
        if not order:
            return None, ""
        if self.override and self.links[self.override[0]].health != State.DOWN:
            return self.override[0], "manual"
        usable = [x for x in order if x.state in (State.UP, State.DEGRADED)]
        cur = self.links.get(self.active) if self.active else None
        if cur is not None and cur.health != State.DOWN:
            if usable and usable[0].rank < cur.rank:
                return usable[0].name, "failback"
            return cur.name, ""
        alive = usable or [x for x in order if x.health != State.DOWN]
        if alive:
            return alive[0].name, "failover" if cur is not None else "initial"
        return (cur or order[0]).name, ""

    def _decide(self, now: float, events: list[PolicyEvent]) -> FailoverDecision:
        self._age(now, events)
        prev = self.active
        chosen, why = self._choose()
        if chosen != prev and chosen is not None:
            old = self.links.get(prev) if prev else None
            kind = {"manual": "manual_switch", "initial": "initial"}.get(why, why)
            data: dict[str, Any] = {"from": prev, "to": chosen, "reason": why,
                                    "evidence": {n: x.evidence() for n, x in self.links.items()}}
            if old is not None and why != "manual":
                kind = "failover" if old.rank < self.links[chosen].rank else "failback"
            sev = "warning" if kind == "failover" else "info"
            events.append(PolicyEvent(kind, sev, f"{kind}: {prev} -> {chosen}", data))
            self.active = chosen
        return FailoverDecision(self.active, prev, events)
