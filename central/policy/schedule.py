"""Which part of the week it is in Sampit (WIB, UTC+7, no DST), and which park events run."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from central.policy.model import ParkEvent, Schedule

Period = Literal["office_hours", "evening", "weekend"]


def local_time(now_ms: int, schedule: Schedule) -> dt.datetime:
    """Wall-clock time at the sites (naive datetime in WIB)."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=now_ms,
                                                  minutes=schedule.utc_offset_min)


def period(now_ms: int, schedule: Schedule) -> Period:
    """office_hours (Mon-Fri, not a holiday, 07:30-16:00 WIB), evening, or weekend."""
    t = local_time(now_ms, schedule)
    if t.weekday() >= 5 or t.date().isoformat() in schedule.holidays:
        return "weekend"
    minute = t.hour * 60 + t.minute
    if schedule.office_start_min <= minute < schedule.office_end_min:
        return "office_hours"
    return "evening"


def active_event(node: str, now_ms: int, schedule: Schedule) -> ParkEvent | None:
    """The park event running at ``node`` now, if any."""
    for ev in schedule.events:
        if ev.node == node and ev.start_ms <= now_ms < ev.end_ms:
            return ev
    return None
