"""At most one birth re-send per node per interval; a birth inside the interval is deferred.

A birth flood (a stolen node, or a flapping link) must not store one command per birth. A
birth that arrives while the node's interval runs is not dropped: the latest one is kept and
handled once the interval has passed (one timer per node at most), so an honest node that
restarts twice in quick succession still gets its desired state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_NODES = 100_000  # bound of the per-node clock (cleared when exceeded)


class ResendGate(Generic[T]):
    """Per-node interval gate with one deferred item per node."""

    def __init__(self, interval_s: float, later: Callable[[T], object]) -> None:
        self.interval_s = interval_s
        self._later = later
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._pending: dict[str, T] = {}
        self._timers: dict[str, threading.Timer] = {}
        self._stopped = False

    def admit(self, node: str, item: T) -> bool:
        """True: go now (and start the node's interval); False: kept, handled after it."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(node)
            if last is None or now - last >= self.interval_s:
                if len(self._last) >= MAX_NODES:
                    self._last.clear()
                self._last[node] = now
                self._pending.pop(node, None)
                return True
            self._pending[node] = item  # the newest birth wins
            if node not in self._timers and not self._stopped:
                timer = threading.Timer(last + self.interval_s - now + 0.01, self._fire,
                                        (node,))
                timer.daemon = True
                self._timers[node] = timer
                timer.start()
            return False

    def _fire(self, node: str) -> None:
        with self._lock:
            self._timers.pop(node, None)
            item = self._pending.pop(node, None)
            if self._stopped or item is None:
                return
        try:  # the callback admits the item again: the interval has passed by now
            self._later(item)
        except Exception as exc:  # never kill the timer thread with a traceback flood
            log.error("deferred re-send for %s failed: %s: %.300s", node, type(exc).__name__,
                      exc)

    def pending(self) -> int:
        """Nodes with a deferred birth."""
        with self._lock:
            return len(self._pending)

    def stop(self) -> None:
        """Cancel every deferred item (no timer fires afterwards)."""
        with self._lock:
            self._stopped = True
            timers, self._timers = list(self._timers.values()), {}
            self._pending.clear()
        for t in timers:
            t.cancel()
