"""Failover controller: probe rounds and carrier events -> policy -> route actuator -> events.

The node services own one FailoverController: ``start_probing`` (or ``on_round`` per link-probe
round), ``force`` for failover/failback commands, ``drain`` for events raised between rounds
(carrier loss is acted on from the netlink watcher thread at once, not at the next round).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from agent import netlink
from agent.actuators.routes import ApplyResult, LinkWatcher
from agent.clock import Clock, monotonic, to_ms, wall_s
from agent.config import AgentConfig
from agent.policy.failover import FailoverDecision, FailoverPolicy, LinkRound, Params
from agent.probes.link import METERED_KINDS, LinkProbe
from protocol.messages import Event

log = logging.getLogger(__name__)

SwitchHook = Callable[[str | None, str, ApplyResult], None]


class RouteSwitch(Protocol):
    """What the controller needs from a route actuator (RouteActuator or a test double)."""

    def setup(self) -> None:
        """Prepare rules/table/sysctls."""

    def current(self) -> str | None:
        """The uplink the default route points at now."""

    def apply(self, name: str) -> ApplyResult:
        """Switch to ``name``, verify, roll back on failure."""


def params_from(cfg: AgentConfig) -> Params:
    """Policy parameters from the [failover] section."""
    return Params(**{k: getattr(cfg.failover, k) for k in Params.model_fields})


def to_round(item: LinkRound | Mapping[str, Any]) -> LinkRound:
    """A LinkRound from a LinkRound or an uplink sample dict (name, up, loss_pct, replies...)."""
    if isinstance(item, LinkRound):
        return item
    loss = item.get("loss_pct")
    probed, replies = item.get("probed"), item.get("replies")
    if probed is None and loss is not None:  # only a percentage: scale it to 100 probes
        probed, replies = 100, round(100 - float(loss))
    return LinkRound(str(item["name"]), carrier=item.get("up"), replies=int(replies or 0),
                     probed=int(probed or 0), rtt_ms=item.get("rtt_ms"), loss_pct=loss,
                     unreachable=bool(item.get("unreachable", False)))


def link_round(probe: LinkProbe) -> LinkRound:
    """Run one reachability round of a link probe and summarise it."""
    state = netlink.link_state(probe.cfg.iface)
    if not (state.exists and state.admin_up and state.carrier):
        return LinkRound(probe.cfg.name, carrier=False)
    rnd = probe.run_round()
    got = [r for v in rnd.rtts.values() for r in v if r is not None]
    sent = sum(len(v) for v in rnd.rtts.values())
    return LinkRound(probe.cfg.name, carrier=True, replies=len(got), probed=sent,
                     rtt_ms=sorted(got)[len(got) // 2] if got else None,
                     loss_pct=100.0 * (sent - len(got)) / sent if sent else None,
                     unreachable=any("unreach" in k for k in rnd.errors))


class FailoverController:
    """Feeds the pure policy, applies its choice with the actuator and reports protocol Events."""

    def __init__(self, cfg: AgentConfig, actuator: RouteSwitch, clock: Clock = monotonic,
                 wall: Clock = wall_s) -> None:
        self.cfg = cfg
        self.actuator = actuator
        self.clock = clock
        self.wall = wall
        order = sorted(enumerate(cfg.uplinks), key=lambda iu: (iu[1].priority, iu[0]))
        self.names = [u.name for _, u in order]
        self.by_iface = {u.iface: u.name for u in cfg.uplinks}
        self.uplinks = {u.name: u for u in cfg.uplinks}
        self.policy = FailoverPolicy(self.names, params_from(cfg))
        self._lock = threading.RLock()
        self._pending: list[Event] = []
        self._hooks: list[SwitchHook] = []
        self._watcher: LinkWatcher | None = None
        self._prober: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def active(self) -> str | None:
        """The uplink that carries traffic now (as far as the policy knows)."""
        return self.policy.active

    def states(self) -> dict[str, str]:
        """Policy state of every uplink (up, degraded, down, recovering, flapping)."""
        with self._lock:
            return {n: self.policy.state(n).value for n in self.names}

    def add_switch_hook(self, hook: SwitchHook) -> None:
        """Call ``hook(old, new, result)`` after every successful switch (e.g. MQTT reconnect)."""
        self._hooks.append(hook)

    def start(self, watch_links: bool = True) -> list[Event]:
        """Set up the actuator, adopt the current route, and start the carrier watcher."""
        with self._lock:
            self.actuator.setup()
            self.policy.resume(self.clock(), self.actuator.current())
            events = self._act(self.policy.tick(self.clock()))
        if watch_links and self._watcher is None:
            self._watcher = LinkWatcher(list(self.by_iface), self._carrier_cb)
            self._watcher.start()
        return events

    def stop(self) -> None:
        """Stop the watcher and the probe thread (routes stay as they are)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        if self._prober is not None:
            self._prober.join(timeout=10)
            self._prober = None

    def on_round(self, now: float, link_results: Iterable[LinkRound | Mapping[str, Any]]) -> list[Event]:
        """One probe round (any subset of uplinks); returns events incl. any from the watcher."""
        rounds = [to_round(r) for r in link_results]
        with self._lock:
            events = self._act(self.policy.observe(now, rounds))
            want = self.policy.active
            if want is not None and not any(e.kind == "failover_failed" for e in events) \
                    and self.actuator.current() != want:  # someone removed or changed our route
                res = self.actuator.apply(want)
                events.append(self._event("route_restored" if res.ok else "failover_failed",
                                          "warning" if res.ok else "critical",
                                          f"default route via {want} re-applied: {res.detail}",
                                          {"to": want, "applied": res.ok}))
            return self.drain() + events

    def on_carrier(self, iface: str, up: bool, now: float) -> list[Event]:
        """A netlink carrier change of an uplink interface (loss fails over at once)."""
        name = self.by_iface.get(iface)
        if name is None:
            return []
        with self._lock:
            return self._act(self.policy.carrier(now, name, up))

    def force(self, kind: str, timeout_s: float | None = None,
              target: str | None = None) -> list[Event]:
        """Manual 'failover', 'failback' or 'auto' (raises ValueError for a bad kind/target)."""
        with self._lock:
            return self._act(self.policy.force(self.clock(), kind, target, timeout_s))

    def drain(self) -> list[Event]:
        """Events raised from the watcher thread since the last call."""
        with self._lock:
            out, self._pending = self._pending, []
            return out

    def _carrier_cb(self, iface: str, up: bool) -> None:
        try:
            events = self.on_carrier(iface, up, self.clock())
        except Exception:  # the watcher must survive anything
            log.exception("carrier event for %s failed", iface)
            return
        with self._lock:
            self._pending.extend(events)

    def _event(self, kind: str, severity: str, message: str, data: dict[str, Any]) -> Event:
        return Event(ts_ms=to_ms(self.wall()), kind=kind, severity=severity,  # type: ignore[arg-type]
                     message=message, data=data)

    def _act(self, d: FailoverDecision) -> list[Event]:
        events = [self._event(e.kind, e.severity, e.message, e.data) for e in d.events]
        if not d.changed or d.active is None:
            return events
        res = self.actuator.apply(d.active)
        if events and events[-1].data.get("to") == d.active:
            events[-1].data.update(switch_ms=round(res.duration_ms, 1), flushed=res.flushed,
                                   applied=res.ok)
        if not res.ok:
            actual = self.actuator.current()
            self.policy.set_active(actual)
            events.append(self._event("failover_failed", "critical",
                                      f"could not switch to {d.active}: {res.detail}",
                                      {"to": d.active, "kept": actual, "detail": res.detail,
                                       "rolled_back": res.rolled_back}))
            return events
        for hook in list(self._hooks):
            try:
                hook(d.previous, d.active, res)
            except Exception:
                log.exception("switch hook %r failed", hook)
        return events

    def _due(self, name: str, now: float, last: dict[str, float]) -> bool:
        up = self.uplinks[name]
        slow = up.kind in METERED_KINDS and name != self.policy.active  # standby LTE costs money
        every = up.standby_probe_interval_s if slow else up.probe_interval_s
        return name not in last or now - last[name] >= every - 0.05

    def start_probing(self, probes: Mapping[str, Callable[[], LinkRound]]) -> None:
        """Run probe rounds in a thread (due uplinks in parallel, standby LTE slowly)."""
        every = min(u.probe_interval_s for u in self.cfg.uplinks)

        def one(fn: Callable[[], LinkRound], out: list[LinkRound]) -> None:
            try:
                out.append(fn())
            except Exception:
                log.exception("link probe failed")

        def loop() -> None:
            last: dict[str, float] = {}
            while not self._stop.is_set():
                t0 = self.clock()
                due = [n for n in probes if self._due(n, t0, last)]
                last.update(dict.fromkeys(due, t0))
                out: list[LinkRound] = []
                threads = [threading.Thread(target=one, args=(probes[n], out), daemon=True)
                           for n in due]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=every * 4 + 5)
                try:  # one netlink/route error must never end failover for good
                    events = self.on_round(self.clock(), out)
                except Exception:
                    log.exception("failover round failed (continuing)")
                    events = []
                with self._lock:
                    self._pending.extend(events)
                self._stop.wait(max(0.0, t0 + every - self.clock()))

        self._prober = threading.Thread(target=loop, name="failover-probe", daemon=True)
        self._prober.start()
