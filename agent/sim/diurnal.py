"""Diurnal load curves of Sampit parks and offices (local time WIB = UTC+7)."""

from __future__ import annotations

import math
import time

WIB_OFFSET_S = 7 * 3600


def wib_clock(epoch_s: float) -> tuple[float, int]:
    """(hour of day as a float, weekday 0=Monday) in WIB for a Unix time."""
    t = time.gmtime(epoch_s + WIB_OFFSET_S)
    return t.tm_hour + t.tm_min / 60 + t.tm_sec / 3600, t.tm_wday


def _bump(h: float, centre: float, width: float) -> float:
    """A smooth bump around ``centre`` hours (wraps over midnight)."""
    d = min(abs(h - centre), 24 - abs(h - centre))
    return math.exp(-0.5 * (d / width) ** 2)


def park_level(hour: float, weekday: int) -> float:
    """Share of peak users in a park: early-morning joggers, a big evening peak, weekends busier."""
    weekend = weekday >= 5
    level = (0.03
             + 0.25 * _bump(hour, 6.5, 1.0)          # pagi: jogging, senam
             + 0.15 * _bump(hour, 12.5, 2.0)         # siang
             + 1.00 * _bump(hour, 20.0, 1.8)         # malam: the evening crowd
             + (0.35 * _bump(hour, 16.5, 1.5) if weekend else 0.1 * _bump(hour, 16.5, 1.5)))
    if weekend:
        level *= 1.35
    return min(level, 1.0)


def office_level(hour: float, weekday: int, profile: str = "default") -> float:
    """Share of staff online in an office: 07:30-16:00 Mon-Fri, lunch dip, Friday prayers."""
    if profile == "24h":  # hospital: always busy, fuller by day
        return 0.45 + 0.45 * _bump(hour, 10.5, 3.5) + 0.1 * _bump(hour, 19.0, 2.0)
    if weekday >= 5:
        return 0.03 + 0.04 * _bump(hour, 10.0, 2.0)
    start, end = 7.5, 16.5 if weekday == 4 else 16.0
    ramp_in = 1 / (1 + math.exp(-(hour - start) * 4))
    ramp_out = 1 / (1 + math.exp((hour - end) * 3))
    level = 0.03 + 0.95 * ramp_in * ramp_out
    if weekday == 4:
        level -= 0.55 * _bump(hour, 12.2, 0.6)  # Jumatan
    else:
        level -= 0.30 * _bump(hour, 12.3, 0.5)  # istirahat siang
    return max(0.02, min(level, 1.0))
