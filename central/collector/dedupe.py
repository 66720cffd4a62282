"""Re-sent tele batches answered from memory: a committed batch's bytes need no second decode.

An agent re-sends a batch whose receipt is late (2 s, then doubling). After an outage every
node replays at once, receipts come later than 2 s and most batches arrive two or three times.
The same bytes on the same topic decode to the same records, which INSERT would ignore
(idempotent on (node, seq)): so a batch whose exact bytes were committed before is answered
with the same receipt again, without decoding or writing it. A copy of a batch still on its
way to the database is acknowledged without a receipt (the original's receipt covers it).
Memory is bounded (least recently used entries go first); a key is a 128-bit BLAKE2b digest.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

MAX_ENTRIES = 65_536


@dataclass(frozen=True)
class Receipted:
    """What the receipt of a committed batch said."""

    site: str
    node: str
    session: int
    acked: tuple[tuple[int, int], ...]


def batch_key(topic: str, payload: bytes) -> bytes:
    """The identity of one message: topic and exact payload bytes."""
    h = hashlib.blake2b(topic.encode(), digest_size=16)
    h.update(b"\0")
    h.update(payload)
    return h.digest()


class Dedupe:
    """Committed batches (LRU, bounded) and batches on their way to the database.

    Thread-safe: the writer's decode stage asks, its commit stage records.
    """

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._done: OrderedDict[bytes, Receipted] = OrderedDict()
        self._inflight: dict[bytes, int] = {}
        self._lock = threading.Lock()

    def committed(self, key: bytes) -> Receipted | None:
        """The receipt of the committed batch with this key, or None."""
        with self._lock:
            hit = self._done.get(key)
            if hit is not None:
                self._done.move_to_end(key)
            return hit

    def inflight(self, key: bytes) -> bool:
        """True if a batch with this key is decoded and not yet committed (or refused)."""
        with self._lock:
            return key in self._inflight

    def begin(self, key: bytes) -> None:
        """A batch with this key is on its way to the database."""
        with self._lock:
            self._inflight[key] = self._inflight.get(key, 0) + 1

    def end(self, key: bytes, receipted: Receipted | None) -> None:
        """The batch was committed and receipted (receipted given) or not (None)."""
        with self._lock:
            left = self._inflight.get(key, 0) - 1
            if left > 0:
                self._inflight[key] = left
            else:
                self._inflight.pop(key, None)
            if receipted is not None:
                self._done[key] = receipted
                self._done.move_to_end(key)
                while len(self._done) > self.max_entries:
                    self._done.popitem(last=False)

    def __len__(self) -> int:
        return len(self._done)
