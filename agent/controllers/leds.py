"""LEDs and button: NodeStatus -> LED pattern on the LEDs; button and relay hooks.

The node services call ``update(status_from(agent))`` (agent.controllers.status) once per loop
pass; only a changed pattern
touches the LEDs (and is logged). A short button press shows "identify" for ``identify_s``
and logs the status line; holding the button calls the hold hooks (resync, safe reset).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from agent.actuators.gpio import ModemRelay, ServiceButton, StatusLeds
from agent.clock import Clock, monotonic
from agent.config import GpioSection
from agent.policy.leds import LedParams, LedPattern, NodeStatus, describe, led_pattern

log = logging.getLogger(__name__)

Hook = Callable[[], None]


class GpioController:
    """Status LEDs, service button and modem relay of one node, from its [gpio] section."""

    def __init__(self, cfg: GpioSection, pin_factory: Any = None, *,
                 params: LedParams | None = None, identify_s: float = 60.0, hold_s: float = 5.0,
                 clock: Clock = monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.params = params or LedParams()
        self.identify_s = identify_s
        self._clock = clock
        self._lock = threading.RLock()
        self._press_hooks: list[Hook] = []
        self._hold_hooks: list[Hook] = []
        self._identify_until: float | None = None
        self._down_since: float | None = None
        self._last = self._full = NodeStatus()
        self.pattern: LedPattern | None = None
        self.leds = StatusLeds({"ok": cfg.led_ok, "warn": cfg.led_warn, "fail": cfg.led_fail},
                               pin_factory)
        self.button = ServiceButton(cfg.button, on_press=self._pressed, on_hold=self._held,
                                    hold_s=hold_s, pin_factory=pin_factory)
        self.relay = ModemRelay(cfg.modem_relay, pin_factory, sleep=sleep)

    def on_button(self, press: Hook | None = None, hold: Hook | None = None) -> None:
        """Add hooks for a short press and for a long hold (called on gpiozero's thread)."""
        if press is not None:
            self._press_hooks.append(press)
        if hold is not None:
            self._hold_hooks.append(hold)

    def update(self, status: NodeStatus) -> LedPattern:
        """Show the pattern for ``status`` (idempotent: an unchanged pattern touches nothing)."""
        with self._lock:
            now = self._clock()
            if status.mqtt_connected:
                self._down_since = None
            elif self._down_since is None:
                self._down_since = now
            down = now - self._down_since if self._down_since is not None else 0.0
            self._last = status
            full = replace(status, broker_down_s=max(status.broker_down_s, down),
                           identify=status.identify or self.identifying(now))
            self._full = full
            pattern = led_pattern(full, self.params)
            self.leds.apply(pattern)
            if pattern != self.pattern:
                log.info("status LEDs: %s", describe(pattern))
            self.pattern = pattern
            return pattern

    def identifying(self, now: float | None = None) -> bool:
        """True while identify mode (all LEDs blinking) is on."""
        until = self._identify_until
        return until is not None and (self._clock() if now is None else now) < until

    def identify(self, seconds: float | None = None) -> None:
        """Blink all LEDs for ``seconds`` (default identify_s) so a technician finds the box."""
        with self._lock:
            self._identify_until = self._clock() + (self.identify_s if seconds is None
                                                    else seconds)
            self.update(self._last)

    def power_cycle_modem(self, off_s: float = 5.0) -> bool:
        """Power-cycle the LTE modem through the relay (blocks off_s); False without a relay."""
        return self.relay.power_cycle(off_s)

    def status_text(self) -> str:
        """The last status as one line, as the LEDs would show it outside identify mode."""
        with self._lock:
            return led_pattern(replace(self._full, identify=False), self.params).text

    def _pressed(self) -> None:
        self.identify()
        log.info("service button pressed: identify for %.0fs; status: %s", self.identify_s,
                 self.status_text())
        self._run(self._press_hooks, "press")

    def _held(self) -> None:
        log.warning("service button held: running %d hold hook(s)", len(self._hold_hooks))
        self._run(self._hold_hooks, "hold")

    @staticmethod
    def _run(hooks: list[Hook], what: str) -> None:
        for hook in list(hooks):
            try:
                hook()
            except Exception:
                log.exception("button %s hook %r failed", what, hook)

    def close(self) -> None:
        """Switch the LEDs off and release every pin."""
        self.button.close()
        self.leds.close()
        self.relay.close()
