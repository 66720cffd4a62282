"""Collector counters (thread-safe) and rate-limited logging of rejected input."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

BATCH_BUCKETS: tuple[int, ...] = (1, 5, 10, 50, 100, 500, 1000, 5000)


class Stats:
    """Counters of one collector: messages by kind, rejects by reason, write batches."""

    def __init__(self, log_interval_s: float = 60.0) -> None:
        self._lock = threading.Lock()
        self.messages: Counter[str] = Counter()
        self.rejects: Counter[str] = Counter()
        self.receipts = 0
        self.records_written = 0
        self.batches = 0
        self.batch_sum = 0
        self.batch_buckets: Counter[int] = Counter()
        self.write_errors = 0
        self.depth_fn: Callable[[], int] | None = None
        self.queue_max = 0
        self.connected = False
        self.connects = 0
        self._log_interval_s = log_interval_s
        self._last_log: dict[tuple[str, str], float] = {}
        self._suppressed: Counter[tuple[str, str]] = Counter()

    def message(self, kind: str) -> None:
        """Count one accepted message of a kind (birth, tele, state, ack)."""
        with self._lock:
            self.messages[kind] += 1

    def reject(self, reason: str, node: str, detail: str) -> None:
        """Count a rejected message; log it at most once per interval per (reason, node)."""
        key = (reason, node)
        now = time.monotonic()
        with self._lock:
            self.rejects[reason] += 1
            last = self._last_log.get(key)
            if last is not None and now - last < self._log_interval_s:
                self._suppressed[key] += 1
                return
            self._last_log[key] = now
            suppressed = self._suppressed.pop(key, 0)
        log.warning("rejected message from %s (%s): %s%s", node, reason, detail,
                    f" [{suppressed} similar suppressed]" if suppressed else "")

    def set_connected(self, connected: bool) -> None:
        """Record the broker connection state (and count connects)."""
        with self._lock:
            self.connected = connected
            self.connects += int(connected)

    def batch(self, size: int, records: int, receipts: int) -> None:
        """Count one committed write batch."""
        with self._lock:
            self.batches += 1
            self.batch_sum += size
            self.records_written += records
            self.receipts += receipts
            for b in BATCH_BUCKETS:
                if size <= b:
                    self.batch_buckets[b] += 1

    def write_error(self) -> None:
        """Count a batch the database refused."""
        with self._lock:
            self.write_errors += 1

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of every counter."""
        with self._lock:
            return {
                "connected": self.connected,
                "connects": self.connects,
                "messages": dict(self.messages),
                "rejects": dict(self.rejects),
                "receipts": self.receipts,
                "records_written": self.records_written,
                "write_batches": self.batches,
                "write_batch_messages": self.batch_sum,
                "write_batch_buckets": {str(k): self.batch_buckets[k] for k in BATCH_BUCKETS},
                "write_errors": self.write_errors,
                "queue_depth": self.depth_fn() if self.depth_fn else 0,
                "queue_max": self.queue_max,
            }
