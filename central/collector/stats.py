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
MAX_NODE_LABELS = 10_000  # per-node counters keep at most this many nodes (then "other")


class Stats:
    """Counters of one collector: messages by kind, rejects by reason, write batches."""

    def __init__(self, log_interval_s: float = 60.0) -> None:
        self._lock = threading.Lock()
        self.messages: Counter[str] = Counter()
        self.rejects: Counter[str] = Counter()
        self.rejects_by_node: Counter[str] = Counter()
        self.limited: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
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
        with self._lock:
            self.rejects[reason] += 1
            self._count_node(self.rejects_by_node, node)
            suppressed = self._may_log((reason, node))
        if suppressed is not None:
            log.warning("rejected message from %s (%s): %s%s", node, reason, detail,
                        f" [{suppressed} similar suppressed]" if suppressed else "")

    def fault(self, where: str, node: str, exc: BaseException) -> None:
        """Count an unexpected failure (one line, no traceback, once per interval per where)."""
        with self._lock:
            self.faults[where] += 1
            suppressed = self._may_log(("fault:" + where, "*"))
        if suppressed is not None:
            log.error("%s failed on a message from %s: %s: %.300s%s", where, node,
                      type(exc).__name__, exc,
                      f" [{suppressed} similar suppressed]" if suppressed else "")

    def _may_log(self, key: tuple[str, str]) -> int | None:
        """Under the lock: None if key was logged within the interval, else the suppressed count."""
        now = time.monotonic()
        last = self._last_log.get(key)
        if last is not None and now - last < self._log_interval_s:
            self._suppressed[key] += 1
            return None
        self._last_log[key] = now
        return self._suppressed.pop(key, 0)

    @staticmethod
    def _count_node(counter: Counter[str], node: str) -> None:
        key = node if node in counter or len(counter) < MAX_NODE_LABELS else "other"
        counter[key] += 1

    def limit(self, node: str) -> None:
        """Count one message dropped (unreceipted) by the per-node rate limit."""
        with self._lock:
            self._count_node(self.limited, node)

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
                "rejects_by_node": dict(self.rejects_by_node),
                "limited": dict(self.limited),
                "faults": dict(self.faults),
                "receipts": self.receipts,
                "records_written": self.records_written,
                "write_batches": self.batches,
                "write_batch_messages": self.batch_sum,
                "write_batch_buckets": {str(k): self.batch_buckets[k] for k in BATCH_BUCKETS},
                "write_errors": self.write_errors,
                "queue_depth": self.depth_fn() if self.depth_fn else 0,
                "queue_max": self.queue_max,
            }
