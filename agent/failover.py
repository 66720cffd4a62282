"""Failover glue: probe rounds and carrier events -> policy -> route actuator -> events.

The runtime owns one FailoverController. It calls ``on_round`` after every link-probe round
(or lets ``start_probing`` run rounds at the uplinks' probe interval), ``force`` for failover/
failback commands, and ``drain`` to collect events raised between rounds (carrier loss is acted
on from the netlink watcher thread within milliseconds, without waiting for a round).
"""

from __future__ import annotations

import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from agent import netlink
from agent.actuators.routes import ApplyResult
from agent.config import AgentConfig
from agent.policy.failover import Decision, FailoverPolicy, LinkRound, Params
from protocol.messages import Event

log = logging.getLogger(__name__)

SwitchHook = Callable[[str | None, str, ApplyResult], None]


class Actuator(Protocol):
    """What the controller needs from a route actuator (RouteActuator or a test double)."""

    def setup(self) -> None:
        """Prepare rules/table/sysctls."""
        ...

    def current(self) -> str | None:
        """The uplink the default route points at now."""
        ...

    def apply(self, name: str) -> ApplyResult:
        """Switch to ``name``, verify, roll back on failure."""
        ...


def params_from(cfg: AgentConfig) -> Params:
    """Policy parameters from the [failover] section."""
    f = cfg.failover
    return Params(f.down_failures, f.down_window, f.stable_window_s, f.flap_threshold,
                  f.flap_window_s, f.manual_timeout_s, f.loss_down_pct, f.loss_degraded_pct)


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


def link_round(probe: Any) -> LinkRound:
    """Run one reachability round of an agent.probes.link.LinkProbe and summarise it."""
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

    def __init__(self, cfg: AgentConfig, actuator: Actuator,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.actuator = actuator
        self.clock = clock
        self.wall = wall
        order = sorted(enumerate(cfg.uplinks), key=lambda iu: (iu[1].priority, iu[0]))
        self.names = [u.name for _, u in order]
        self.by_iface = {u.iface: u.name for u in cfg.uplinks}
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

    def add_switch_hook(self, hook: SwitchHook) -> None:
        """Call ``hook(old, new, result)`` after every successful switch (e.g. MQTT reconnect)."""
        self._hooks.append(hook)

    def start(self, watch_links: bool = True) -> list[Event]:
        """Set up the actuator, adopt the current route, and start the carrier watcher."""
        with self._lock:
            self.actuator.setup()
            self.policy.set_active(self.actuator.current())
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
        return Event(ts_ms=int(self.wall() * 1000), kind=kind, severity=severity,  # type: ignore[arg-type]
                     message=message, data=data)

    def _act(self, d: Decision) -> list[Event]:
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

    def start_probing(self, probes: Mapping[str, Callable[[], LinkRound]],
                      interval_s: float | None = None) -> None:
        """Run probe rounds in a thread (all uplinks in parallel) and feed ``on_round``."""
        every = interval_s or min(u.probe_interval_s for u in self.cfg.uplinks)

        def one(fn: Callable[[], LinkRound], out: list[LinkRound]) -> None:
            try:
                out.append(fn())
            except Exception:
                log.exception("link probe failed")

        def loop() -> None:
            nxt = self.clock()
            while not self._stop.is_set():
                out: list[LinkRound] = []
                threads = [threading.Thread(target=one, args=(fn, out), daemon=True)
                           for fn in probes.values()]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=every * 4 + 5)
                events = self.on_round(self.clock(), out)
                with self._lock:
                    self._pending.extend(events)
                nxt = max(nxt + every, self.clock())
                self._stop.wait(max(0.0, nxt - self.clock()))

        self._prober = threading.Thread(target=loop, name="failover-probe", daemon=True)
        self._prober.start()


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
