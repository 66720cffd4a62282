"""LTE modem power-cycle: a hung LTE uplink gets its modem's power cut via the GPIO relay.

NodeServices starts the real FailoverController (with a recording route actuator instead of
the kernel) and a GpioController on gpiozero's MockFactory; probe rounds and the clock are
driven by hand, the power cycle runs in its real worker thread with a real (short) off time.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPin

from agent.actuators import gpio as gpio_actuators
from agent.actuators import routes
from agent.actuators.routes import ApplyResult
from agent.config import AgentConfig, parse_config
from agent.controllers.services import NodeServices
from agent.policy.failover import LinkRound
from agent.runtime import Agent
from protocol.messages import Event
from provisioning.localbroker import LocalBroker

RELAY = 23
OFF_S = 0.3
AFTER_S, MIN_INTERVAL_S = 60.0, 600.0


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingActuator:
    """Stands in for RouteActuator (no kernel routes): records switches, always succeeds."""

    def __init__(self, cfg: AgentConfig, *args: Any, **kw: Any) -> None:
        self.cur: str | None = None
        self.switches: list[str] = []

    def setup(self) -> None:
        """Nothing to prepare."""

    def current(self) -> str | None:
        """The uplink last applied."""
        return self.cur

    def apply(self, name: str) -> ApplyResult:
        """Record the switch."""
        prev, self.cur = self.cur, name
        self.switches.append(name)
        return ApplyResult(True, name, prev)


class FakeAgent:
    """The attributes of Agent that NodeServices uses (its ServicesHost); add_event records."""

    def __init__(self, cfg: AgentConfig, clock: FakeClock) -> None:
        self.cfg, self.clock = cfg, clock
        self.simulated, self.shaping, self.session = False, None, None
        self.forwarder = self.outbox = self.failover = self.last_sample = None
        self.probes: list[Any] = []
        self.added: list[tuple[str, str]] = []

    def add_event(self, kind: str, severity: str, message: str, data: dict[str, Any]) -> None:
        """Record an event raised from another thread."""
        self.added.append((kind, message))

    def request_resync(self) -> None:
        """Not used here."""


def config(state_dir: Path, mqtt_url: str = "mqtt://127.0.0.1:1", **failover: Any) -> AgentConfig:
    """Fibre primary + LTE backup, relay on GPIO23, fast modem cycle settings."""
    return parse_config({
        "node": {"id": "modem-n1", "site": "s1"},
        "mqtt": {"url": mqtt_url, "password": "pw-modem-n1", "reconnect_min_s": 0.2,
                 "reconnect_max_s": 1.0},
        "agent": {"state_dir": str(state_dir), "sample_interval_s": 0.2},
        "users": {"hostapd_ctrl": [], "dnsmasq_leases": str(state_dir / "none.leases")},
        "failover": {"enabled": True, "down_failures": 2, "modem_cycle_after_s": AFTER_S,
                     "modem_cycle_off_s": OFF_S, "modem_cycle_min_interval_s": MIN_INTERVAL_S,
                     **failover},
        "uplinks": [{"name": "fibre", "iface": "ktgnone0"},
                    {"name": "lte", "iface": "ktgnone1", "kind": "lte", "priority": 10}],
        "gpio": {"modem_relay": RELAY}})


@pytest.fixture
def factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[MockFactory]:
    """A mock pin factory; no global gpiozero state leaks; routes never touch the kernel."""
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.setattr(routes, "RouteActuator", RecordingActuator)
    gpio_actuators.reset_detection()
    f = MockFactory()
    yield f
    f.reset()
    f.close()
    gpio_actuators.reset_detection()


def hang(services: NodeServices, clock: FakeClock, name: str) -> None:
    """Two probe rounds without replies (carrier still up): the uplink goes down."""
    for _ in range(2):
        services.failover.on_round(clock(), [LinkRound(name, carrier=True, probed=2, replies=0)])
    assert services.failover.states()[name] == "down"


def wait(cond: Callable[[], Any], timeout: float = 5.0) -> bool:
    """Poll until cond() is truthy (bounded)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        time.sleep(0.02)
    return bool(cond())


def cycles(pin: MockPin) -> list[float]:
    """Seconds the relay was off, one entry per completed off->on cycle."""
    out, off_at = [], None
    for st in pin.states[1:]:
        if not st.state:
            off_at = st.timestamp
        elif off_at is not None:
            out.append(st.timestamp - off_at)
            off_at = None
    return out


def tick_kinds(services: NodeServices, clock: FakeClock) -> list[str]:
    """One NodeServices pass; the kinds of the events it returns for the outbox."""
    return [e.kind for e in services.tick(clock())]


def test_hung_lte_modem_is_power_cycled_once_per_interval(tmp_path: Path,
                                                          factory: MockFactory) -> None:
    clock = FakeClock()
    agent = FakeAgent(config(tmp_path), clock)
    services = NodeServices(agent, lambda: None, pin_factory=factory)
    try:
        services.start()
        relay = factory.pin(RELAY)
        assert relay.state, "the modem is powered while all is well"
        relay.clear_states()
        hang(services, clock, "lte")
        assert tick_kinds(services, clock) == []
        clock.now += AFTER_S - 1
        assert "modem_power_cycle" not in tick_kinds(services, clock), "cycled too early"
        clock.now += 2
        evs = [e for e in services.tick(clock()) if e.kind == "modem_power_cycle"]
        assert len(evs) == 1 and evs[0].data["uplink"] == "lte" and evs[0].data["down_s"] >= 60
        assert wait(lambda: len(cycles(relay)) == 1), relay.states
        assert cycles(relay)[0] >= OFF_S * 0.9 and relay.state, "off for off_s, then on again"
        for _ in range(5):  # still down, but inside the min interval: no second cycle
            clock.now += AFTER_S
            assert "modem_power_cycle" not in tick_kinds(services, clock)
        time.sleep(OFF_S * 2)
        assert len(cycles(relay)) == 1 and len(relay.states) == 3, relay.states
        clock.now += MIN_INTERVAL_S
        assert "modem_power_cycle" in tick_kinds(services, clock), "cycled again after interval"
        assert wait(lambda: len(cycles(relay)) == 2) and relay.state
        assert agent.added == [], "no failure reported"
    finally:
        services.close()


def test_fibre_outage_or_recovered_lte_never_cuts_modem_power(tmp_path: Path,
                                                             factory: MockFactory) -> None:
    clock = FakeClock()
    services = NodeServices(FakeAgent(config(tmp_path), clock), lambda: None,
                            pin_factory=factory)
    try:
        services.start()
        relay = factory.pin(RELAY)
        relay.clear_states()
        hang(services, clock, "fibre")
        hang(services, clock, "lte")
        clock.now += AFTER_S / 2
        services.tick(clock())
        for _ in range(3):  # lte answers again: its down time starts over
            services.failover.on_round(clock(), [LinkRound("lte", carrier=True, probed=2,
                                                           replies=2)])
        clock.now += AFTER_S * 5
        assert all(k != "modem_power_cycle" for k in tick_kinds(services, clock))
        assert services.failover.states()["fibre"] == "down"
        time.sleep(0.2)
        assert len(relay.states) == 1 and relay.state, relay.states
    finally:
        services.close()


@pytest.mark.broker
def test_real_agent_stores_the_power_cycle_event(tmp_path: Path, factory: MockFactory,
                                                 broker: LocalBroker) -> None:
    broker.add_user("modem-n1", "pw-modem-n1")
    clock = FakeClock()
    agent = Agent(config(tmp_path, f"mqtt://{broker.host}:{broker.port}"), probes=[],
                  clock=clock)
    agent.services = NodeServices(agent, lambda: None, pin_factory=factory)
    try:
        agent.start()
        assert wait(lambda: agent.failover is not None)
        hang(agent.services, clock, "lte")
        relay, t_down = factory.pin(RELAY), clock.now
        for _ in range(60):  # time passes 5 s per step while the agent loop runs
            clock.now += 5
            time.sleep(0.05)
            if cycles(relay):
                break
        assert wait(lambda: len(cycles(relay)) == 1), "the agent loop cycled the modem"
        assert AFTER_S <= clock.now - t_down < MIN_INTERVAL_S
    finally:
        agent.stop()
    with sqlite3.connect(tmp_path / "outbox.sqlite") as db:
        bodies = [json.loads(b) for (b,) in db.execute("SELECT body FROM rec WHERE kind='event'")]
    stored = [Event.model_validate(b) for b in bodies if b["kind"] == "modem_power_cycle"]
    assert len(stored) == 1 and stored[0].severity == "warning", bodies
    assert stored[0].data["uplink"] == "lte" and stored[0].data["off_s"] == OFF_S
