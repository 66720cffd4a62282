"""GPIO actuators: status LEDs, service button, modem power relay (the agent's only gpiozero user).

gpiozero is imported lazily inside functions so importing this module costs nothing on nodes
without GPIO. Every device takes gpiozero's swappable ``pin_factory`` (tests pass a
``MockFactory``); with ``None`` gpiozero's default factory is used. Without GPIO hardware
(gpiozero raises ``BadPinFactory`` after ``PinFactoryFallback`` warnings) or without a pin
number, a device is a silent no-op after one info log line: LEDs must never stop the agent.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from agent.policy.leds import LedPattern, LedState

log = logging.getLogger(__name__)

Hook = Callable[[], None]
_detect_lock = threading.Lock()
_no_gpio: str | None = None  # why this process has no GPIO hardware, once found out


def reset_detection() -> None:
    """Forget a failed hardware detection (tests; a factory installed later)."""
    global _no_gpio
    with _detect_lock:
        _no_gpio = None


def detect_factory(pin_factory: Any = None) -> Any:
    """The given pin factory, else gpiozero's default one, or None when there is no GPIO."""
    global _no_gpio
    if pin_factory is not None:
        return pin_factory
    with _detect_lock:
        if _no_gpio is not None:
            return None
        from gpiozero import Device

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                Device.ensure_pin_factory()
                reason = None
            except Exception as exc:  # BadPinFactory (an ImportError), or a factory's own error
                reason = f"{type(exc).__name__}: {exc}"
        for w in caught:
            log.debug("gpiozero: %s", w.message)
        if reason is None:
            return Device.pin_factory
        _no_gpio = reason
    log.info("no GPIO hardware (%s): status LEDs, button and modem relay disabled", reason)
    return None


def _device(kind: str, pin: int | None, what: str, pin_factory: Any, **kw: Any) -> Any:
    """A gpiozero device of class ``kind`` on ``pin``, or None (logged) when it cannot exist."""
    if pin is None:
        log.info("%s: no pin configured in [gpio]: disabled", what)
        return None
    factory = detect_factory(pin_factory)
    if factory is None:
        return None
    import gpiozero

    try:
        return getattr(gpiozero, kind)(pin, pin_factory=factory, **kw)
    except Exception as exc:  # GPIOPinInUse, PinInvalidPin, permissions, ...
        log.warning("%s: GPIO%s unusable (%s: %s): disabled", what, pin, type(exc).__name__, exc)
        return None


class StatusLeds:
    """The three status LEDs; ``apply`` changes only what differs (a running blink continues)."""

    NAMES = ("ok", "warn", "fail")

    def __init__(self, pins: Mapping[str, int | None], pin_factory: Any = None) -> None:
        unknown = set(pins) - set(self.NAMES)
        if unknown:
            raise ValueError(f"unknown LED name(s): {sorted(unknown)}")
        self._lock = threading.Lock()
        self._devices: dict[str, Any] = {}
        self._applied: dict[str, LedState] = {}
        if not any(pins.get(n) is not None for n in self.NAMES):
            log.info("status LEDs: no pins configured in [gpio]: disabled")
            return
        for name in self.NAMES:
            dev = _device("LED", pins.get(name), f"LED {name}", pin_factory)
            if dev is not None:
                self._devices[name] = dev

    @property
    def active(self) -> bool:
        """True when at least one LED is really driven."""
        return bool(self._devices)

    def state(self) -> dict[str, LedState]:
        """What each driven LED was last set to."""
        with self._lock:
            return dict(self._applied)

    def apply(self, pattern: LedPattern) -> bool:
        """Show ``pattern``; True when some LED changed (LEDs sharing a blink stay in phase)."""
        want = pattern.leds()
        with self._lock:
            changed = {n for n in self._devices if self._applied.get(n) != want[n]}
            if not changed:
                return False
            timings = {(want[n].on_s, want[n].off_s) for n in changed if want[n].mode == "blink"}
            restart = changed | {n for n in self._devices if want[n].mode == "blink"
                                 and (want[n].on_s, want[n].off_s) in timings}
            for name in self.NAMES:
                if name in restart:
                    self._set(name, want[name])
            return True

    def _set(self, name: str, st: LedState) -> None:
        dev = self._devices[name]
        try:
            if st.mode == "blink":
                dev.blink(on_time=st.on_s, off_time=st.off_s, background=True)
            elif st.mode == "on":
                dev.on()
            else:
                dev.off()
            self._applied[name] = st
        except Exception:  # a closed or broken device: retry on the next apply
            log.exception("LED %s: could not set %s", name, st.describe())
            self._applied.pop(name, None)

    def close(self) -> None:
        """Switch the LEDs off and release their pins."""
        with self._lock:
            for dev in self._devices.values():
                dev.close()
            self._devices.clear()
            self._applied.clear()


class ServiceButton:
    """The push button: a short press calls ``on_press``; holding it ``hold_s`` calls ``on_hold``.

    The button connects the pin to ground (internal pull-up). A press is reported on release,
    and only if the hold did not fire, so one long press never counts as both.
    """

    def __init__(self, pin: int | None, *, on_press: Hook | None = None,
                 on_hold: Hook | None = None, hold_s: float = 5.0, bounce_s: float | None = 0.05,
                 pin_factory: Any = None) -> None:
        self.on_press = on_press
        self.on_hold = on_hold
        self._held = False
        self._device = _device("Button", pin, "service button", pin_factory, pull_up=True,
                               hold_time=hold_s, hold_repeat=False, bounce_time=bounce_s)
        if self._device is not None:
            self._device.when_pressed = self._pressed
            self._device.when_held = self._hold
            self._device.when_released = self._released

    @property
    def active(self) -> bool:
        """True when a real (or mock) button is attached."""
        return self._device is not None

    def _pressed(self) -> None:
        self._held = False

    def _hold(self) -> None:
        self._held = True
        self._call(self.on_hold, "hold")

    def _released(self) -> None:
        if not self._held:
            self._call(self.on_press, "press")
        self._held = False

    @staticmethod
    def _call(hook: Hook | None, what: str) -> None:
        if hook is None:
            return
        try:
            hook()
        except Exception:  # gpiozero's event thread must survive any hook
            log.exception("service button %s hook failed", what)

    def close(self) -> None:
        """Release the pin; no more callbacks."""
        if self._device is not None:
            self._device.close()
            self._device = None


class ModemRelay:
    """Relay in the LTE modem's power lead; energised (pin active) = modem powered."""

    def __init__(self, pin: int | None, pin_factory: Any = None, *, active_high: bool = True,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep
        self._busy = threading.Lock()
        self._device = _device("OutputDevice", pin, "modem relay", pin_factory,
                               active_high=active_high, initial_value=True)

    @property
    def active(self) -> bool:
        """True when a relay is attached."""
        return self._device is not None

    def power_cycle(self, off_s: float = 5.0) -> bool:
        """Cut the modem's power for ``off_s`` s, then restore it (blocks); False if not done."""
        dev = self._device
        if dev is None:
            log.info("modem relay: not available, power cycle skipped")
            return False
        if not self._busy.acquire(blocking=False):
            log.warning("modem relay: a power cycle is already running")
            return False
        try:
            log.warning("modem relay: power off for %.1fs", off_s)
            dev.off()
            self._sleep(off_s)
        finally:
            dev.on()
            self._busy.release()
        log.info("modem relay: power restored")
        return True

    def close(self) -> None:
        """Release the pin (wire the relay so that a released pin keeps the modem powered)."""
        if self._device is not None:
            self._device.close()
            self._device = None
