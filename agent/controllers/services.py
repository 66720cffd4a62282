"""What runs beside sampling on a real node: failover, status LEDs/button, shaping client list.

The runtime calls ``start()`` once, ``tick(now)`` every loop pass (at least once a second) and
``close()`` at stop. Every service is optional and a failure in one never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from agent import netlink
from agent.clock import Clock, wall_s
from agent.controllers._modem import ModemWatch
from agent.controllers.status import StatusSource, status_from
from agent.probes.base import Probe
from agent.probes.users import read_leases
from protocol.messages import Event

if TYPE_CHECKING:
    from agent.actuators.routes import ApplyResult
    from agent.controllers.failover import FailoverController
    from agent.controllers.leds import GpioController

log = logging.getLogger(__name__)

CLIENTS_EVERY_S = 10.0


class ClientShaping(Protocol):
    """The shaping controller as the client list sees it."""

    def set_clients(self, ips: Iterable[str]) -> bool:
        """Keep per-client classes in step with the user list."""
        ...


class ServicesHost(StatusSource, Protocol):
    """What the node services need of the agent (beside what its LEDs show)."""

    @property
    def simulated(self) -> bool:
        """True for a simulated node (no GPIO)."""

    @property
    def probes(self) -> list[Probe]:
        """The node's probes (the link probes feed failover)."""

    @property
    def shaping(self) -> ClientShaping | None:
        """The shaping controller, if shaping is enabled."""

    @property
    def clock(self) -> Clock:
        """The agent's monotonic clock."""

    def add_event(self, kind: str, severity: str, message: str, data: dict[str, Any]) -> None:
        """Queue an event for the outbox (thread-safe)."""

    def request_resync(self) -> None:
        """Re-publish birth and re-send everything unreceipted (thread-safe)."""


class NodeServices:
    """Failover controller, GPIO controller and shaping clients of one agent."""

    def __init__(self, agent: ServicesHost, request_reconnect: Callable[[], None],
                 pin_factory: Any = None) -> None:
        self.agent = agent
        self.request_reconnect = request_reconnect
        self.pin_factory = pin_factory  # gpiozero factory for the GpioController (tests: mock)
        self.failover: FailoverController | None = None
        self.gpio: GpioController | None = None
        self._next_clients = 0.0
        self._modem = ModemWatch(agent.cfg, self._power_cycle, self._power_cycle_failed)

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
                from agent.controllers.leds import GpioController
                self.gpio = GpioController(cfg.gpio, self.pin_factory)
                self.gpio.on_button(hold=self._on_hold)
            except Exception:
                log.exception("GPIO could not start; LEDs and button are off")
                self.gpio = None
        return events

    def _start_failover(self) -> list[Event]:
        from agent.actuators import routes  # late: tests swap routes.RouteActuator
        from agent.controllers.failover import FailoverController, link_round
        from agent.probes.link import LinkProbe

        agent = self.agent
        links = {p.cfg.name: p for p in agent.probes if isinstance(p, LinkProbe)}
        ctl = FailoverController(agent.cfg, routes.RouteActuator(agent.cfg), clock=agent.clock)

        def on_switch(old: str | None, new: str | None, res: ApplyResult) -> None:
            for name, probe in links.items():
                probe.set_active(name == new)
            session = agent.session
            if old is None and session is not None and session.connected.is_set():
                log.info("uplink %s adopted; the MQTT session already works: kept", new)
                return
            log.info("uplink switched %s -> %s: reconnecting MQTT over the new path", old, new)
            self.request_reconnect()

        ctl.add_switch_hook(on_switch)
        events: list[Event] = list(ctl.start())
        ctl.start_probing({n: partial(link_round, p) for n, p in links.items()})
        self.failover = ctl  # the failover/failback command handlers use it
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
                events += self._modem_check(now, self.failover)
            except Exception:
                log.exception("modem power-cycle check failed")
        shaping = self.agent.shaping
        leases = self.agent.cfg.users.dnsmasq_leases
        if shaping is not None and leases and now >= self._next_clients:
            self._next_clients = now + CLIENTS_EVERY_S
            try:
                shaping.set_clients(self._lease_ips(leases))
            except Exception as exc:
                log.warning("per-client shaping not updated: %s", exc)
        if self.gpio is not None:
            try:
                self.gpio.update(status_from(self.agent))
            except Exception:
                log.exception("LED update failed")
        return events

    @staticmethod
    def _lease_ips(path: str) -> list[str]:
        """Addresses of the unexpired dnsmasq leases (set_clients keeps the valid IPv4 ones)."""
        try:
            return read_leases(path, wall_s()).ips
        except OSError:
            return []

    def _modem_check(self, now: float, failover: FailoverController) -> list[Event]:
        """Power-cycle the LTE modem (relay) once an lte uplink has been down long enough."""
        relay = self.gpio.relay if self.gpio is not None else None
        if self.agent.cfg.failover.modem_cycle_after_s <= 0 or relay is None or not relay.active:
            return []
        return self._modem.check(now, failover.states())

    def _power_cycle(self, off_s: float) -> bool:
        return self.gpio is not None and self.gpio.power_cycle_modem(off_s)

    def _power_cycle_failed(self, uplink: str, detail: str) -> None:
        self.agent.add_event("modem_power_cycle_failed", "critical",
                             f"LTE modem of {uplink} could not be power-cycled: {detail}",
                             {"uplink": uplink, "detail": detail})

    def close(self) -> None:
        """Stop every service (routes stay as they are)."""
        self._modem.join()
        stops: list[tuple[str, Callable[[], None]]] = []
        if self.failover is not None:
            stops.append(("FailoverController", self.failover.stop))
        if self.gpio is not None:
            stops.append(("GpioController", self.gpio.close))
        for name, stop in stops:
            try:
                stop()
            except Exception:
                log.exception("error stopping %s", name)
        try:
            netlink.close_iproute()
        except Exception:
            log.exception("error closing the netlink socket")
