"""Per-node message and byte rate limits at central: token buckets, O(1) per message."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from central.config import LimitsSection


class _Bucket:
    __slots__ = ("msgs", "bytes", "t")

    def __init__(self, msgs: float, nbytes: float, t: float) -> None:
        self.msgs, self.bytes, self.t = msgs, nbytes, t


class NodeLimiter:
    """Token buckets per node for messages and bytes; thread-safe, O(1) per message."""

    def __init__(self, cfg: LimitsSection, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, node: str, nbytes: int) -> bool:
        """Take one message of nbytes from node's buckets; False if that is over a limit."""
        c, now = self.cfg, self._clock()
        with self._lock:
            b = self._buckets.get(node)
            if b is None:
                if len(self._buckets) >= c.max_tracked_nodes:
                    self._buckets.clear()  # bounded memory: forget everyone (all start full)
                b = self._buckets[node] = _Bucket(c.node_burst_msgs, c.node_burst_bytes, now)
            dt = max(0.0, now - b.t)
            b.t = now
            b.msgs = min(c.node_burst_msgs, b.msgs + dt * c.node_msgs_per_s)
            b.bytes = min(c.node_burst_bytes, b.bytes + dt * c.node_bytes_per_s)
            if b.msgs >= 1 and b.bytes >= nbytes:
                b.msgs -= 1
                b.bytes -= nbytes
                return True
            return False
