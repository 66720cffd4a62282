"""Helpers shared by the GPIO tests: pin numbers, a hand-moved clock, bounded waits."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gpiozero.pins.mock import MockPin

from agent.config import GpioSection

PINS = GpioSection(led_ok=17, led_warn=27, led_fail=22, button=4, modem_relay=23)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_for(cond: Callable[[], Any], timeout: float = 3.0) -> bool:
    """Poll cond until truthy (bounded); return whether it became truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return bool(cond())


def changes(pin: MockPin) -> int:
    """How many times the pin changed level since its last clear_states()."""
    return len(pin.states) - 1


def levels(pin: MockPin) -> list[bool]:
    """The levels the pin went through since its last clear_states()."""
    return [bool(s.state) for s in pin.states]
