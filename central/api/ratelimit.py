"""Per-client-address token buckets for the open routes (enrolment, install check)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    """Token bucket per client address: ``burst`` requests, refilled at ``per_minute``."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 max_clients: int = 10000) -> None:
        self.rate, self.burst, self.clock = per_minute / 60.0, burst, clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def allow(self, client: str) -> bool:
        """Take one request from the client's bucket; False if it is empty."""
        now = self.clock()
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        ok = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if ok else tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return ok

    def wait_s(self, client: str) -> int:
        """Whole seconds until the client's bucket holds one request again (0 = now)."""
        if client not in self._buckets or self.rate <= 0:
            return 0
        tokens, last = self._buckets[client]
        tokens += (self.clock() - last) * self.rate
        return 0 if tokens >= 1.0 else int((1.0 - tokens) / self.rate) + 1
