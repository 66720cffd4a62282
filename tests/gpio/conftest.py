"""GPIO test fixtures: a fresh MockFactory per test, global gpiozero state restored after."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from agent.actuators import gpio


@pytest.fixture(autouse=True)
def _gpiozero_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees or leaves a global pin factory or a cached hardware detection."""
    monkeypatch.setattr(Device, "pin_factory", None)
    gpio.reset_detection()
    yield
    if Device.pin_factory is not None:  # a test let gpiozero install one: close it
        Device.pin_factory.close()
    gpio.reset_detection()


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    """A fresh mock pin factory (Pi 3B pin layout), reset after the test."""
    f = MockFactory()
    yield f
    f.reset()
    f.close()


@pytest.fixture
def closing() -> Iterator[Callable[[Any], Any]]:
    """Register objects with a close(); all are closed at teardown, even when a test fails."""
    opened: list[Any] = []

    def register(obj: Any) -> Any:
        opened.append(obj)
        return obj

    yield register
    for obj in reversed(opened):
        obj.close()
