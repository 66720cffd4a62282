"""The agent's clocks: monotonic seconds for deadlines, wall-clock milliseconds for timestamps.

Pis have no RTC: the wall clock is wrong until NTP syncs, so every deadline runs on the
monotonic clock and the wall clock is only trusted for expiry once it is synchronised.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ctypes

Clock = Callable[[], float]  # seconds; the monotonic clock unless a test passes its own

TIMESYNC_FLAG = "/run/systemd/timesync/synchronized"
SYNC_RECHECK_S = 60.0
_TIME_ERROR = 5  # adjtimex() return value: clock not synchronised


def monotonic() -> float:
    """Monotonic seconds (never jumps; the base of every deadline)."""
    return time.monotonic()


def wall_s() -> float:
    """Wall-clock seconds since the epoch (wrong until NTP syncs on a Pi)."""
    return time.time()


def to_ms(seconds: float) -> int:
    """Seconds since the epoch as whole milliseconds, the protocol's ``ts_ms``."""
    return int(seconds * 1000)


def wall_ms() -> int:
    """Wall-clock milliseconds since the epoch."""
    return to_ms(wall_s())


@cache
def _libc() -> ctypes.CDLL | None:
    import ctypes.util  # only without timesyncd's flag: ctypes costs ~0.4 MB RSS (measured)

    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True) if name else None
    except OSError:
        return None


def clock_synced() -> bool:
    """Whether the wall clock is NTP-synchronised.

    True if systemd-timesyncd's flag file exists; otherwise the kernel's view via a read-only
    adjtimex() (TIME_ERROR means unsynchronised). If neither can be asked, False: unknown is
    treated as unsynced, so wall-clock expiry is not trusted (the monotonic deadline still is).
    """
    if os.path.exists(TIMESYNC_FLAG):
        return True
    libc = _libc()
    if libc is None:
        return False
    import ctypes

    buf = ctypes.create_string_buffer(512)  # struct timex with modes=0: read only
    try:
        state = int(libc.adjtimex(buf))
    except (AttributeError, OSError):
        return False
    return state not in (-1, _TIME_ERROR)


class SyncedWall:
    """The wall clock in ms only while it is synchronised (asked at most once a minute)."""

    def __init__(self, clock: Clock = monotonic, synced: Callable[[], bool] = clock_synced) -> None:
        self._clock = clock
        self._synced_fn = synced
        self._synced = (False, -SYNC_RECHECK_S)

    def __call__(self) -> int | None:
        """Wall-clock ms when synced, else None."""
        synced, checked = self._synced
        if self._clock() - checked >= SYNC_RECHECK_S:
            synced = self._synced_fn()
            self._synced = (synced, self._clock())
        return wall_ms() if synced else None
