"""What the alert rules read and decide: thresholds, node inputs, trackers, open/resolve."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")


@dataclass(frozen=True)
class AlertConfig:
    """Thresholds and durations of every rule (seconds, percent, milliseconds, Celsius)."""

    offline_s: float = 120.0
    silent_s: float = 180.0
    backup_s: float = 120.0
    loss_pct: float = 10.0
    loss_clear_pct: float = 5.0
    rtt_ms: float = 300.0
    rtt_clear_ms: float = 200.0
    temp_c: float = 80.0
    temp_clear_c: float = 75.0
    disk_pct: float = 90.0
    disk_clear_pct: float = 85.0
    sustain_samples: int = 3
    clear_s: float = 60.0
    freshness_s: float = 120.0

    def timing_ms(self, kind: str) -> tuple[int, int]:
        """(open_after_ms, clear_after_ms) of one alert kind."""
        opens = {"offline": self.offline_s, "backup_uplink": self.backup_s}.get(kind, 0.0)
        clears = 0.0 if kind in ("delivery_gap", "unregistered") else self.clear_s
        return int(opens * 1000), int(clears * 1000)


@dataclass(frozen=True)
class LiveSample:
    """The fields of one stored sample that the rules read."""

    ts_ms: int
    received_ms: int
    historical: bool = False
    active: str | None = None
    rtt_ms: float | None = None
    loss_pct: float | None = None
    temp_c: float | None = None
    disk_pct: float | None = None
    undervoltage: bool | None = None


@dataclass(frozen=True)
class NodeInputs:
    """Everything the rules know about one node at one moment."""

    node: str
    site: str
    online: bool
    offline_since_ms: int | None = None
    last_seen_ms: int | None = None
    unregistered: bool = False
    primary_uplink: str | None = None
    samples: tuple[LiveSample, ...] = ()
    gaps: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Track:
    """Hysteresis state of one (node, kind)."""

    active: bool = False
    pending_since_ms: int | None = None
    clear_since_ms: int | None = None


@dataclass(frozen=True)
class Opened:
    """An alert to open now."""

    node: str
    site: str
    kind: str
    severity: str
    opened_ms: int
    evidence: dict[str, Any]
    message_en: str
    message_id: str


@dataclass(frozen=True)
class Resolved:
    """An open alert whose condition has been clear long enough."""

    node: str
    kind: str
    resolved_ms: int


AlertState = dict[tuple[str, str], Track]
