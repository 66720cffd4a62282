"""Re-sent tele batches answered from memory: a committed batch needs no second decode or write.

An agent re-sends a batch whose receipt is late (2 s, then doubling). After an outage every
node replays at once, receipts come later than 2 s and most batches arrive two or three times.
A re-send is built again from the outbox: the same records, but a new ``ts_ms`` and
``historical: true``, so its bytes differ from the first copy. What identifies it is the
node's topic, its ``session`` and its ``seq`` (the lowest record seq of the batch), which the
agent writes near the start of the payload; they are read from there without decoding.

A batch whose key was committed before is answered with that commit's receipt, without
decoding or writing it. That is never wrong: the receipt names only record seqs that are
stored for that node (INSERT is idempotent on (node, seq), so a write would have changed
nothing); a record of a re-send that the first copy did not carry stays unreceipted and the
agent sends it again in a batch with another ``seq``. A payload whose head does not show the
key is decoded as any other; a key is remembered only when the decoded batch agrees with its
head. A node can thus only ever confuse its own batches. A copy of a batch still on its way to
the database is acknowledged without a receipt (the original's receipt covers it). Memory is
bounded (least recently used entries go first).
"""

from __future__ import annotations

import re
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


# "session":N,"seq":M as protocol.codec.encode writes a Tele (fields in model order)
_HEAD = re.compile(rb'"session"\s*:\s*(\d{1,19})\s*,\s*"seq"\s*:\s*(\d{1,19})\s*[,}]')
HEAD_BYTES = 512  # envelope fields (schema, site, node, ts_ms) come first: ids are short


def tele_head(payload: bytes) -> tuple[int, int] | None:
    """(session, seq) as a tele's head states them, or None if it does not show them."""
    m = _HEAD.search(payload, 0, HEAD_BYTES)
    return (int(m[1]), int(m[2])) if m else None


def batch_key(topic: str, session: int, seq: int) -> bytes:
    """The identity of a tele batch: the node's topic, its session and its lowest seq."""
    return b"%s\0%d\0%d" % (topic.encode(), session, seq)


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
