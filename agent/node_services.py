"""What runs beside sampling on a real node: failover, status LEDs/button, shaping client list.

The runtime calls ``start()`` once, ``tick(now)`` every loop pass (at least once a second) and
``close()`` at stop. Every service is optional and a failure in one never stops the others.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from agent import netlink
from protocol.messages import Event

log = logging.getLogger(__name__)

CLIENTS_EVERY_S = 10.0
MODEM_KINDS = ("lte",)  # uplink kinds whose modem sits behind [gpio] modem_relay


def lease_ips(path: str, now: float) -> list[str]:
    """IPv4 addresses of unexpired dnsmasq leases (``expiry mac ip host clientid``)."""
    out: list[str] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()[:10_000]
    except OSError:
        return out
    for line in lines:
        f = line.split()
        if len(f) < 3 or not f[0].isdigit():
            continue
        try:
            ip = ipaddress.ip_address(f[2])
        except ValueError:
            continue
        if ip.version == 4 and (int(f[0]) == 0 or int(f[0]) > now):
            out.append(str(ip))
    return out


class NodeServices:
    """Failover controller, GPIO controller and shaping clients of one Agent."""

    def __init__(self, agent: Any, request_reconnect: Callable[[], None],
                 pin_factory: Any = None) -> None:
        self.agent = agent
        self.request_reconnect = request_reconnect
        self.pin_factory = pin_factory  # gpiozero factory for the GpioController (tests: mock)
        self.failover: Any = None
        self.gpio: Any = None
        self._next_clients = 0.0
        self._down_since: dict[str, float] = {}  # lte uplink -> agent clock when seen down
        self._last_cycle: float | None = None
        self._cycler: threading.Thread | None = None

    def start(self) -> list[Event]:
        """Start the enabled services; returns their first events."""
        events: list[Event] = []
        cfg = self.agent.cfg
        if cfg.failover.enabled:
            try:
                events += self._start_failover()
            except Exception:
                log.exception("failover could not start; the node keeps its current route")
                self.failover = None
        if not self.agent.simulated and any(v is not None for v in cfg.gpio.model_dump().values()):
            try:
                from agent.gpio_wiring import GpioController
                self.gpio = GpioController(cfg.gpio, self.pin_factory)
                self.gpio.on_button(hold=self._on_hold)
            except Exception:
                log.exception("GPIO could not start; LEDs and button are off")
                self.gpio = None
        return events

    def _start_failover(self) -> list[Event]:
        from agent.actuators.routes import RouteActuator
        from agent.failover import FailoverController, link_round
        from agent.probes.link import LinkProbe

        agent = self.agent
        links = {p.cfg.name: p for p in agent.probes if isinstance(p, LinkProbe)}
        ctl = FailoverController(agent.cfg, RouteActuator(agent.cfg), clock=agent._clock)

        def on_switch(old: str | None, new: str | None, res: Any) -> None:
            for name, probe in links.items():
                probe.set_active(name == new)
            session = getattr(agent, "session", None)
            if old is None and session is not None and session.connected.is_set():
                log.info("uplink %s adopted; the MQTT session already works: kept", new)
                return
            log.info("uplink switched %s -> %s: reconnecting MQTT over the new path", old, new)
            self.request_reconnect()

        ctl.add_switch_hook(on_switch)
        events: list[Event] = list(ctl.start())
        ctl.start_probing({n: partial(link_round, p) for n, p in links.items()})
        self.failover = ctl
        agent.failover = ctl  # command handlers failover/failback use it
        return events

    def _on_hold(self) -> None:
        self.agent.add_event("button_hold", "info", "service button held: resync requested", {})
        self.agent.request_resync()

    def tick(self, now: float) -> list[Event]:
        """One pass: failover events, client list for shaping, LED update."""
        events: list[Event] = []
        if self.failover is not None:
            events += self.failover.drain()
            try:
                events += self._modem_watch(now)
            except Exception:
                log.exception("modem power-cycle check failed")
        shaping = self.agent.shaping
        leases = self.agent.cfg.users.dnsmasq_leases
        if shaping is not None and leases and now >= self._next_clients:
            self._next_clients = now + CLIENTS_EVERY_S
            try:
                shaping.set_clients(lease_ips(leases, time.time()))
            except Exception as exc:
                log.warning("per-client shaping not updated: %s", exc)
        if self.gpio is not None:
            try:
                from agent.gpio_wiring import status_from
                self.gpio.update(status_from(self.agent))
            except Exception:
                log.exception("LED update failed")
        return events

    def _modem_watch(self, now: float) -> list[Event]:
        """Power-cycle the LTE modem (relay) once an lte uplink has been down long enough."""
        fo = self.agent.cfg.failover
        relay = getattr(self.gpio, "relay", None)
        if fo.modem_cycle_after_s <= 0 or relay is None or not relay.active:
            return []
        states = self.failover.states()
        for up in self.agent.cfg.uplinks:
            if up.kind not in MODEM_KINDS:
                continue
            if states.get(up.name) != "down":
                self._down_since.pop(up.name, None)
                continue
            down_s = now - self._down_since.setdefault(up.name, now)
            recent = (self._last_cycle is not None
                      and now - self._last_cycle < fo.modem_cycle_min_interval_s)
            busy = self._cycler is not None and self._cycler.is_alive()
            if down_s < fo.modem_cycle_after_s or recent or busy:
                continue
            self._last_cycle = now
            self._cycler = threading.Thread(target=self._power_cycle, name="modem-cycle",
                                            args=(up.name, fo.modem_cycle_off_s), daemon=True)
            self._cycler.start()
            log.warning("uplink %s down for %.0fs: power-cycling its modem for %.1fs",
                        up.name, down_s, fo.modem_cycle_off_s)
            msg = f"power-cycling the LTE modem of {up.name} after {down_s:.0f}s down"
            return [Event(ts_ms=int(time.time() * 1000), kind="modem_power_cycle",
                          severity="warning", message=msg,
                          data={"uplink": up.name, "iface": up.iface, "down_s": round(down_s, 1),
                                "off_s": fo.modem_cycle_off_s,
                                "min_interval_s": fo.modem_cycle_min_interval_s})]
        return []

    def _power_cycle(self, uplink: str, off_s: float) -> None:
        """Worker thread: cut and restore the modem's power; report a failure as an event."""
        try:
            ok, detail = bool(self.gpio.power_cycle_modem(off_s)), "relay did not switch"
        except Exception as exc:
            log.exception("modem power cycle failed")
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            self.agent.add_event("modem_power_cycle_failed", "critical",
                                 f"LTE modem of {uplink} could not be power-cycled: {detail}",
                                 {"uplink": uplink, "detail": detail})

    def close(self) -> None:
        """Stop every service (routes stay as they are)."""
        if self._cycler is not None:  # let a running power cycle restore the modem's power
            self._cycler.join(timeout=self.agent.cfg.failover.modem_cycle_off_s + 5)
        for svc in (self.failover, self.gpio):
            if svc is None:
                continue
            try:
                svc.stop() if hasattr(svc, "stop") else svc.close()
            except Exception:
                log.exception("error stopping %s", type(svc).__name__)
        try:
            netlink.close_iproute()
        except Exception:
            log.exception("error closing the netlink socket")
