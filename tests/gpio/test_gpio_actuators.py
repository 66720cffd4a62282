"""GPIO actuators on gpiozero's MockFactory: LEDs, service button, modem relay, no hardware."""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from gpiotest_helpers import changes, levels, wait_for
from gpiozero import LED, Device
from gpiozero.exc import BadPinFactory, PinFactoryFallback
from gpiozero.pins.mock import MockFactory
from gpiozero.threads import GPIOThread

from agent.actuators.gpio import ModemRelay, ServiceButton, StatusLeds
from agent.policy.leds import FAST, OFF, ON, PROVISION, LedPattern, blink

Closing = Callable[[Any], Any]
LED_PINS = {"ok": 17, "warn": 27, "fail": 22}


def _leds(factory: MockFactory, closing: Closing) -> StatusLeds:
    return closing(StatusLeds(LED_PINS, pin_factory=factory))


def _blink_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if isinstance(t, GPIOThread) and t.is_alive()}


def _off_times(pin: Any) -> list[float]:
    t, out = 0.0, []
    for s in pin.states[1:]:
        t += s.timestamp
        if not s.state:
            out.append(t)
    return out


def test_steady_pattern_drives_the_pins(factory: MockFactory, closing: Closing) -> None:
    leds = _leds(factory, closing)
    assert leds.apply(LedPattern(ok=ON, warn=OFF, fail=ON))
    assert [factory.pin(p).state for p in (17, 27, 22)] == [True, False, True]
    assert leds.apply(LedPattern(ok=OFF, warn=ON, fail=OFF))
    assert [factory.pin(p).state for p in (17, 27, 22)] == [False, True, False]


def test_blinking_led_toggles_while_the_others_hold_still(factory: MockFactory,
                                                          closing: Closing) -> None:
    leds = _leds(factory, closing)
    leds.apply(LedPattern(ok=ON, warn=OFF, fail=OFF))
    pins = [factory.pin(p) for p in (17, 27, 22)]
    for pin in pins:
        pin.clear_states()
    leds.apply(LedPattern(ok=ON, warn=OFF, fail=blink(FAST)))
    assert wait_for(lambda: changes(pins[2]) >= 3), levels(pins[2])
    assert levels(pins[2])[:3] == [False, True, False]
    assert levels(pins[0]) == [True] and levels(pins[1]) == [False]


def test_repeated_apply_keeps_the_running_blink(factory: MockFactory, closing: Closing) -> None:
    leds = _leds(factory, closing)
    red_blink = LedPattern(ok=OFF, warn=OFF, fail=blink(FAST))
    assert leds.apply(red_blink)
    before = _blink_threads()
    assert len(before) == 1
    assert not leds.apply(red_blink)  # nothing to do
    assert leds.apply(LedPattern(ok=OFF, warn=ON, fail=blink(FAST)))  # only amber changes
    assert _blink_threads() == before
    assert factory.pin(27).state is True
    assert leds.apply(LedPattern(ok=OFF, warn=ON, fail=ON))
    assert _blink_threads() == set() and factory.pin(22).state is True


def test_leds_with_the_same_blink_stay_in_phase(factory: MockFactory, closing: Closing) -> None:
    leds = _leds(factory, closing)
    leds.apply(LedPattern(ok=blink(PROVISION)))
    threading.Event().wait(PROVISION[0] / 2)  # green is now half an 'on' phase ahead
    ok, warn = factory.pin(17), factory.pin(27)
    ok.clear_states()
    warn.clear_states()
    leds.apply(LedPattern(ok=blink(PROVISION), warn=blink(PROVISION)))
    assert wait_for(lambda: len(_off_times(ok)) >= 1 and len(_off_times(warn)) >= 1)
    assert abs(_off_times(ok)[0] - _off_times(warn)[0]) < 0.1, (ok.states, warn.states)


def test_leds_without_pins_do_nothing(factory: MockFactory, caplog: pytest.LogCaptureFixture,
                                      closing: Closing) -> None:
    with caplog.at_level(logging.INFO, "agent.actuators.gpio"):
        leds = closing(StatusLeds({"ok": None, "warn": None, "fail": None}, pin_factory=factory))
    assert not leds.active
    assert not leds.apply(LedPattern(ok=ON, fail=blink(FAST)))
    assert factory.pins == {}
    assert [r.levelno for r in caplog.records] == [logging.INFO]


def test_a_pin_already_in_use_disables_that_led_only(factory: MockFactory, closing: Closing,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    closing(LED(27, pin_factory=factory))
    leds = _leds(factory, closing)
    assert "GPIO27 unusable" in caplog.text
    assert leds.apply(LedPattern(ok=ON, warn=ON, fail=ON))
    assert factory.pin(17).state and factory.pin(22).state and not factory.pin(27).state


def test_short_press_calls_press_not_hold(factory: MockFactory, closing: Closing) -> None:
    pressed, held = threading.Event(), threading.Event()
    closing(ServiceButton(4, on_press=pressed.set, on_hold=held.set, hold_s=5.0,
                          pin_factory=factory))
    pin = factory.pin(4)
    assert pin.state is True  # pull-up: not pressed
    pin.drive_low()
    assert not pressed.is_set()  # reported on release
    pin.drive_high()
    assert pressed.is_set() and not held.is_set()


def test_holding_calls_hold_once_and_release_is_no_press(factory: MockFactory,
                                                          closing: Closing) -> None:
    presses: list[int] = []
    holds: list[int] = []
    done = threading.Event()

    def on_hold() -> None:
        holds.append(1)
        done.set()

    closing(ServiceButton(4, on_press=lambda: presses.append(1), on_hold=on_hold, hold_s=0.05,
                          pin_factory=factory))
    pin = factory.pin(4)
    pin.drive_low()
    assert done.wait(3.0), "hold never fired"
    threading.Event().wait(0.15)  # still held: the hook must not repeat
    pin.drive_high()
    assert holds == [1] and presses == []
    pin.drive_low()
    pin.drive_high()
    assert presses == [1]


def test_a_failing_hook_does_not_break_the_button(factory: MockFactory, closing: Closing,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def bad() -> None:
        calls.append(1)
        raise RuntimeError("boom")

    closing(ServiceButton(4, on_press=bad, pin_factory=factory))
    pin = factory.pin(4)
    for _ in range(2):
        pin.drive_low()
        pin.drive_high()
    assert calls == [1, 1]
    assert "press hook failed" in caplog.text


def test_relay_power_cycle_turns_modem_off_then_on(factory: MockFactory,
                                                   closing: Closing) -> None:
    seen: list[tuple[float, bool]] = []
    pin = factory.pin(23)
    relay = closing(ModemRelay(23, pin_factory=factory,
                               sleep=lambda s: seen.append((s, pin.state))))
    assert pin.state is True  # modem powered from the start
    pin.clear_states()
    assert relay.power_cycle(7.5)
    assert seen == [(7.5, False)]
    assert levels(pin) == [True, False, True]


def test_relay_refuses_a_second_cycle_while_one_runs(factory: MockFactory,
                                                     closing: Closing) -> None:
    release, sleeping = threading.Event(), threading.Event()

    def slow_sleep(s: float) -> None:
        sleeping.set()
        release.wait(5.0)

    relay = closing(ModemRelay(23, pin_factory=factory, sleep=slow_sleep))
    first = threading.Thread(target=relay.power_cycle, args=(1.0,))
    first.start()
    try:
        assert sleeping.wait(3.0)
        assert not relay.power_cycle(1.0)
    finally:
        release.set()
        first.join(5.0)
    assert factory.pin(23).state is True


def _everything_without_hardware(caplog: pytest.LogCaptureFixture, closing: Closing) -> None:
    with caplog.at_level(logging.INFO, "agent.actuators.gpio"), warnings.catch_warnings():
        warnings.simplefilter("error")  # a gpiozero warning escaping would fail the test
        leds = closing(StatusLeds(LED_PINS))
        button = closing(ServiceButton(4))
        relay = closing(ModemRelay(23))
        assert not leds.active and not button.active and not relay.active
        assert not leds.apply(LedPattern(ok=ON, fail=blink(FAST)))
        assert not relay.power_cycle(0.0)
    hw = [r for r in caplog.records if "no GPIO hardware" in r.getMessage()]
    assert len(hw) == 1 and hw[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_no_gpio_hardware_is_a_quiet_no_op(monkeypatch: pytest.MonkeyPatch, closing: Closing,
                                           caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "kotanet-no-such-board")
    _everything_without_hardware(caplog, closing)
    assert Device.pin_factory is None


def test_default_factory_fallbacks_are_absorbed(monkeypatch: pytest.MonkeyPatch,
                                                closing: Closing,
                                                caplog: pytest.LogCaptureFixture) -> None:
    # What gpiozero does on a PC: a PinFactoryFallback warning per driver, then BadPinFactory.
    def no_board() -> None:
        for name in ("lgpio", "rpigpio", "pigpio", "native"):
            warnings.warn(PinFactoryFallback(f"Falling back from {name}: no board"), stacklevel=1)
        raise BadPinFactory("Unable to load any default pin factory!")

    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    monkeypatch.setattr(Device, "_default_pin_factory", staticmethod(no_board))
    _everything_without_hardware(caplog, closing)
