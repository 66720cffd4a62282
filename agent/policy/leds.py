"""Status LED pattern of a node: pure, no I/O; the caller passes every fact (and durations) in.

Three LEDs (config ``[gpio]``): ``led_ok`` green, ``led_warn`` amber, ``led_fail`` red. Each
LED has one meaning so that combinations read naturally (green slow blink + amber steady =
"on the backup uplink and the Pi is throttling"). Identify and provisioning override all.

==================  ===================================  =======================================
LEDs                Meaning                              Arti (Bahasa Indonesia)
==================  ===================================  =======================================
all 3 blink 0.15 s  identify: technician locating box    identifikasi: teknisi mencari perangkat
green+amber 0.5 s   provisioning: waiting for set-up     provisioning: menunggu konfigurasi
green steady        connected via the primary uplink     normal, terhubung lewat jalur utama
green blink 1 s     connected via the backup uplink      terhubung lewat jalur cadangan
green off           not connected to the MQTT broker     tidak terhubung ke broker MQTT
amber steady        degraded: Pi throttled, under-       menurun: Pi throttling, tegangan
                    voltage, data backlog, central       kurang, antrean data menumpuk, pusat
                    offline or a standby uplink down     offline atau jalur cadangan mati
red blink 0.25 s    no uplink works at all               tidak ada jalur internet sama sekali
red blink 1 s       broker lost, reconnecting (< 5 min)  broker putus, menyambung ulang
red steady          no broker for 5 minutes or more      broker tak terjangkau >= 5 menit
all off             agent not running / no power         agen tidak berjalan / tanpa daya
==================  ===================================  =======================================

"Throttled" is the Pi firmware's throttling bit (heat or weak power supply), not a bandwidth
throttle from central: those are normal operation and show nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Uplink = Literal["primary", "backup", "none", "unknown"]
Mode = Literal["off", "on", "blink"]

SLOW = (1.0, 1.0)
FAST = (0.25, 0.25)
IDENTIFY = (0.15, 0.15)  # used by nothing else, so entering identify restarts all three in phase
PROVISION = (0.5, 0.5)


@dataclass(frozen=True)
class LedState:
    """One LED: off, on, or blinking with on_s/off_s seconds."""

    mode: Mode = "off"
    on_s: float = 0.0
    off_s: float = 0.0

    def describe(self) -> str:
        """Short text: 'off', 'on' or 'blink 0.25/0.25'."""
        return f"blink {self.on_s:g}/{self.off_s:g}" if self.mode == "blink" else self.mode


OFF = LedState("off")
ON = LedState("on")


def blink(timing: tuple[float, float]) -> LedState:
    """A blinking LedState from (on_s, off_s)."""
    return LedState("blink", timing[0], timing[1])


@dataclass(frozen=True)
class LedPattern:
    """What the three LEDs show, and why (``text`` is one short line for logs)."""

    ok: LedState = OFF
    warn: LedState = OFF
    fail: LedState = OFF
    text: str = ""  # stable while the situation is (no counters), so changes are worth a log

    def leds(self) -> dict[str, LedState]:
        """The LED states by name (ok, warn, fail)."""
        return {"ok": self.ok, "warn": self.warn, "fail": self.fail}


@dataclass(frozen=True)
class NodeStatus:
    """Everything the LEDs reflect; built by agent.gpio_wiring.status_from or by hand."""

    mqtt_connected: bool = False
    broker_down_s: float = 0.0  # seconds without a broker connection (0 while connected)
    central_online: bool = False
    active_uplink: Uplink = "unknown"  # "unknown": no failover controller on this node
    uplink_down: bool = False  # some uplink is down (or flapping)
    throttled: bool = False  # Pi firmware throttling
    undervoltage: bool = False
    backlog: int = 0  # outbox records not yet receipted by central
    identify: bool = False
    provisioning: bool = False


@dataclass(frozen=True)
class LedParams:
    """Thresholds of the pattern."""

    broker_long_s: float = 300.0
    backlog_warn: int = 1000


def degraded_reasons(s: NodeStatus, p: LedParams) -> list[str]:
    """Why amber is lit (empty list: it is not)."""
    reasons = []
    if s.undervoltage:
        reasons.append("under-voltage")
    if s.throttled:
        reasons.append("Pi throttled")
    if s.backlog >= p.backlog_warn:
        reasons.append("outbox backlog")
    if s.mqtt_connected and not s.central_online:
        reasons.append("central offline")
    if s.uplink_down and s.active_uplink in ("primary", "unknown"):
        reasons.append("standby uplink down")  # on backup, green's slow blink already says so
    return reasons


def led_pattern(s: NodeStatus, p: LedParams | None = None) -> LedPattern:
    """The LED pattern for a node status (see the table in the module docstring)."""
    p = p or LedParams()
    if s.identify:
        return LedPattern(blink(IDENTIFY), blink(IDENTIFY), blink(IDENTIFY), "identify")
    if s.provisioning:
        return LedPattern(blink(PROVISION), blink(PROVISION), OFF, "provisioning")
    parts: list[str] = []
    if s.active_uplink == "none":
        fail = blink(FAST)
        parts.append("no uplink")
    elif not s.mqtt_connected and s.broker_down_s >= p.broker_long_s:
        fail = ON
        parts.append(f"no broker for {p.broker_long_s:.0f}s or more")
    elif not s.mqtt_connected:
        fail = blink(SLOW)
        parts.append("broker lost, reconnecting")
    else:
        fail = OFF
    if not s.mqtt_connected:
        ok = OFF
    elif s.active_uplink == "backup":
        ok = blink(SLOW)
        parts.append("on backup uplink")
    else:
        ok = ON
    reasons = degraded_reasons(s, p)
    warn = ON if reasons else OFF
    if reasons:
        parts.append("degraded: " + ", ".join(reasons))
    text = "; ".join(parts) or "ok"
    return LedPattern(ok, warn, fail, text)


def describe(pattern: LedPattern) -> str:
    """One log line: 'ok=on warn=off fail=off (ok)'."""
    leds = " ".join(f"{k}={v.describe()}" for k, v in pattern.leds().items())
    return f"{leds} ({pattern.text})"
