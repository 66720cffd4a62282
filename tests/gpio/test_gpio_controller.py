"""GpioController: node status -> LED pins, button press/hold, broker outage timer, status_from."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from gpiotest_helpers import PINS, FakeClock, changes, levels, wait_for
from gpiozero.pins.mock import MockFactory

from agent.config import GpioSection
from agent.controllers.leds import GpioController
from agent.controllers.status import status_from
from agent.policy.leds import NodeStatus
from protocol.messages import Sample

Closing = Callable[[Any], Any]
FINE = NodeStatus(mqtt_connected=True, central_online=True, active_uplink="primary")


def _ctl(factory: MockFactory, closing: Closing, clock: FakeClock | None = None,
         **kw: Any) -> GpioController:
    return closing(GpioController(PINS, pin_factory=factory, clock=clock or FakeClock(), **kw))


def _pins(factory: MockFactory) -> dict[str, Any]:
    return {"green": factory.pin(17), "amber": factory.pin(27), "red": factory.pin(22)}


def _show(ctl: GpioController, factory: MockFactory, status: NodeStatus) -> dict[str, str]:
    """Apply status and report each LED as a technician sees it: on, off or blinking."""
    pins = _pins(factory)
    for pin in pins.values():
        pin.clear_states()
    ctl.update(status)
    blinking = {n for n, s in ctl.pattern.leds().items() if s.mode == "blink"} if ctl.pattern \
        else set()
    names = {"ok": "green", "warn": "amber", "fail": "red"}
    want = {names[n] for n in blinking}
    wait_for(lambda: all(changes(pins[n]) >= 2 for n in want), timeout=4.0)
    seen = {}
    for name, pin in pins.items():
        if changes(pin) >= 2:
            seen[name] = "blinking"
        else:
            seen[name] = "on" if pin.state else "off"
    return seen


SCENES = [
    ("all fine", FINE, {"green": "on", "amber": "off", "red": "off"}),
    ("on backup uplink", NodeStatus(mqtt_connected=True, central_online=True,
                                    active_uplink="backup", uplink_down=True),
     {"green": "blinking", "amber": "off", "red": "off"}),
    ("degraded", NodeStatus(mqtt_connected=True, central_online=True, active_uplink="primary",
                            undervoltage=True), {"green": "on", "amber": "on", "red": "off"}),
    ("no uplink", NodeStatus(active_uplink="none", uplink_down=True),
     {"green": "off", "amber": "off", "red": "blinking"}),
    ("identify", NodeStatus(identify=True),
     {"green": "blinking", "amber": "blinking", "red": "blinking"}),
]


@pytest.mark.parametrize(("case", "status", "expect"), SCENES, ids=[s[0] for s in SCENES])
def test_status_shows_on_the_leds(case: str, status: NodeStatus, expect: dict[str, str],
                                  factory: MockFactory, closing: Closing) -> None:
    ctl = _ctl(factory, closing)
    assert _show(ctl, factory, status) == expect


def test_long_broker_outage_turns_red_steady(factory: MockFactory, closing: Closing) -> None:
    clock = FakeClock()
    ctl = _ctl(factory, closing, clock)
    lost = NodeStatus(mqtt_connected=False, active_uplink="primary")
    assert _show(ctl, factory, lost)["red"] == "blinking"  # reconnecting
    clock.advance(299)
    assert ctl.update(lost).fail.mode == "blink"
    clock.advance(1)
    assert _show(ctl, factory, lost) == {"green": "off", "amber": "off", "red": "on"}
    clock.advance(5)
    assert _show(ctl, factory, FINE)["red"] == "off"  # back: the outage timer restarts
    clock.advance(1000)
    assert ctl.update(lost).fail.mode == "blink"


def test_repeated_update_touches_nothing(factory: MockFactory, closing: Closing,
                                         caplog: pytest.LogCaptureFixture) -> None:
    ctl = _ctl(factory, closing)
    no_uplink = NodeStatus(active_uplink="none")
    with caplog.at_level(logging.INFO, "agent.controllers.leds"):
        ctl.update(no_uplink)
        threads = {t for t in threading.enumerate() if "GPIOThread" in type(t).__name__}
        for _ in range(20):
            ctl.update(no_uplink)
    assert {t for t in threading.enumerate() if "GPIOThread" in type(t).__name__} == threads
    assert all(t.is_alive() for t in threads)
    assert len([r for r in caplog.records if "status LEDs:" in r.getMessage()]) == 1


def test_press_shows_identify_for_a_minute(factory: MockFactory, closing: Closing,
                                           caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    ctl = _ctl(factory, closing, clock)
    presses: list[int] = []
    ctl.on_button(press=lambda: presses.append(1))
    ctl.update(FINE)
    button = factory.pin(4)
    with caplog.at_level(logging.INFO, "agent.controllers.leds"):
        button.drive_low()
        button.drive_high()
    assert presses == [1]
    assert "status: ok" in caplog.text  # the press also logs the status line
    pins = _pins(factory)
    assert wait_for(lambda: all(changes(p) >= 3 for p in pins.values()))  # all blink at once
    clock.advance(59)
    assert ctl.update(FINE).text == "identify"
    clock.advance(1)
    assert _show(ctl, factory, FINE) == {"green": "on", "amber": "off", "red": "off"}


def test_hold_runs_hold_hooks_not_identify(factory: MockFactory, closing: Closing) -> None:
    ctl = _ctl(factory, closing, hold_s=0.05)
    resync = threading.Event()
    presses: list[int] = []
    ctl.on_button(press=lambda: presses.append(1), hold=resync.set)
    ctl.update(FINE)
    button = factory.pin(4)
    button.drive_low()
    assert resync.wait(3.0), "hold hook never ran"
    button.drive_high()
    assert presses == [] and not ctl.identifying()


def test_controller_relay_power_cycles(factory: MockFactory, closing: Closing) -> None:
    relay = factory.pin(23)
    ctl = _ctl(factory, closing, sleep=lambda s: None)
    relay.clear_states()
    assert ctl.power_cycle_modem(3.0)
    assert levels(relay) == [True, False, True]


def test_controller_without_pins_is_a_no_op(factory: MockFactory, closing: Closing) -> None:
    ctl = closing(GpioController(GpioSection(), pin_factory=factory))
    assert ctl.update(NodeStatus(active_uplink="none")).fail.mode == "blink"
    assert not ctl.power_cycle_modem(0.0)
    assert factory.pins == {}


def test_controller_without_hardware_is_a_no_op(monkeypatch: pytest.MonkeyPatch,
                                                closing: Closing,
                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "kotanet-no-such-board")
    clock = FakeClock()
    ctl = closing(GpioController(PINS, clock=clock))
    ctl.on_button(press=lambda: None)
    assert not ctl.leds.active and not ctl.button.active and not ctl.power_cycle_modem(0.0)
    with caplog.at_level(logging.INFO, "agent.controllers.leds"):
        ctl.identify(1.0)
        assert ctl.update(FINE).text == "identify"
        clock.advance(2)
        for _ in range(3):
            ctl.update(FINE)
        ctl.update(NodeStatus(mqtt_connected=True, central_online=True, backlog=5000))
        ctl.update(NodeStatus(mqtt_connected=True, central_online=True, backlog=6000))
    # the status line still reaches the log, once per change: identify, ok, degraded
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("status LEDs")]
    assert [line.rsplit("(", 1)[1] for line in lines] == \
        ["identify)", "ok)", "degraded: outbox backlog)"]


# ---------------------------------------------------------------- status_from
class _Failover:
    def __init__(self, active: str | None, states: dict[str, str]) -> None:
        self.names = list(states)
        self.active = active
        self._states = states

    def states(self) -> dict[str, str]:
        return dict(self._states)


def _nothing() -> SimpleNamespace:
    """An agent with none of its parts running yet (the StatusSource views all None)."""
    return SimpleNamespace(cfg=SimpleNamespace(uplinks=[]), session=None, forwarder=None,
                           outbox=None, failover=None, last_sample=None)


def _agent(**kw: Any) -> SimpleNamespace:
    connected = threading.Event()
    connected.set()
    base: dict[str, Any] = {
        **vars(_nothing()),
        "session": SimpleNamespace(connected=connected),
        "forwarder": SimpleNamespace(connected=True, centrals={"c1"}),
        "outbox": SimpleNamespace(count=3)}
    return SimpleNamespace(**{**base, **kw})


def test_status_from_an_object_without_anything_is_all_unknown() -> None:
    st = status_from(_nothing())
    assert st == NodeStatus(mqtt_connected=False, active_uplink="unknown")


def test_status_from_reads_session_forwarder_outbox_failover() -> None:
    st = status_from(_agent(failover=_Failover("lte", {"fiber": "down", "lte": "up"})))
    assert (st.mqtt_connected, st.central_online, st.backlog) == (True, True, 3)
    assert (st.active_uplink, st.uplink_down) == ("backup", True)
    assert status_from(_agent(failover=_Failover("fiber", {"fiber": "up", "lte": "flapping"}))
                       ).uplink_down
    assert status_from(_agent(failover=_Failover(None, {"fiber": "down"}))).active_uplink == "none"
    assert status_from(_agent(failover=_Failover("fiber", {"fiber": "up"}))).active_uplink \
        == "primary"


def test_status_from_uses_the_last_sample_without_failover() -> None:
    cfg = SimpleNamespace(uplinks=[SimpleNamespace(name="lte", priority=10),
                                   SimpleNamespace(name="fiber", priority=0)])
    sample = Sample.model_validate({
        "ts_ms": 1, "system": {"undervoltage": True, "throttled": False},
        "uplinks": [{"name": "fiber", "up": False}, {"name": "lte", "up": True, "active": True}]})
    st = status_from(_agent(cfg=cfg, last_sample=sample))
    assert (st.active_uplink, st.uplink_down, st.undervoltage, st.throttled) == \
        ("backup", True, True, False)
    dead = Sample.model_validate({"ts_ms": 1, "uplinks": [{"name": "fiber", "up": False}]})
    assert status_from(_agent(cfg=cfg), sample=dead).active_uplink == "none"


def test_status_from_disconnected_and_overrides() -> None:
    agent = _agent(session=SimpleNamespace(connected=threading.Event()),
                   forwarder=SimpleNamespace(connected=False, centrals=set()))
    st = status_from(agent, provisioning=True)
    assert not st.mqtt_connected and not st.central_online and st.provisioning


def test_a_broken_failover_controller_does_not_break_the_leds() -> None:
    class Broken(_Failover):
        def states(self) -> dict[str, str]:
            raise RuntimeError("not started")

    assert status_from(_agent(failover=Broken("x", {}))).active_uplink == "unknown"
