"""PUBACKs in arrival order (MQTT 5), also for messages refused because the queue was full."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable


class AckSequencer:
    """Acks queued messages as the writer finishes them and overflowed ones right after the
    last message queued before them, so the broker sees acks in the order it sent.

    ``send(mid, qos)`` sends one PUBACK; ``generation()`` is the current connection's number
    (mids of an earlier connection are stale and never acked).
    """

    def __init__(self, send: Callable[[int, int], object], generation: Callable[[], int]) -> None:
        self._send, self._generation = send, generation
        self._lock = threading.Lock()
        self._queued = 0  # arrival number of the newest queued message (network thread only)
        self._done = 0  # arrival number of the newest message the writer has finished
        self._held: deque[tuple[int, int, int, int]] = deque()  # (after, gen, mid, qos)

    def queued(self) -> int:
        """The arrival number of a message about to be queued (network thread)."""
        self._queued += 1
        return self._queued

    def overflowed(self, gen: int, mid: int, qos: int) -> None:
        """Ack a message that was not queued once all messages queued before it are acked."""
        with self._lock:
            if self._held or self._done < self._queued:
                self._held.append((self._queued, gen, mid, qos))
            else:
                self._ack(gen, mid, qos)

    def done(self, number: int, gen: int, mid: int, qos: int) -> None:
        """Ack a queued message (commit thread, arrival order), then overflowed ones after it."""
        with self._lock:
            if number <= self._done:
                return  # acked already (a batch retried after a failure)
            self._ack(gen, mid, qos)
            self._done = number
            while self._held and self._held[0][0] <= number:
                _, hgen, hmid, hqos = self._held.popleft()
                self._ack(hgen, hmid, hqos)

    def held(self) -> int:
        """Overflowed messages still waiting for earlier acks."""
        with self._lock:
            return len(self._held)

    def _ack(self, gen: int, mid: int, qos: int) -> None:
        if qos > 0 and gen == self._generation():
            self._send(mid, qos)
