"""Records of the outbox not written to disk yet (the RAM side of the write-behind outbox).

Private to agent.transport. Rows are kept in seq order; every seq here is above the highest
seq on disk. A receipt removes rows here without touching the SD card; a flush writes (and
removes) what is left. At most ``flush_every`` rows wait here while the disk takes writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Row = tuple[int, str, int, str]  # seq, kind, ts_ms, body (JSON)


@dataclass
class _Pending:
    row: Row
    added: float  # clock time the record was added


class PendingRecords:
    """The RAM buffer: unreceipted records waiting for the next flush, oldest first."""

    def __init__(self) -> None:
        self._items: list[_Pending] = []

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def append(self, row: Row, now: float) -> None:
        """Add the newest record (its seq is above every seq held)."""
        self._items.append(_Pending(row, now))

    def oldest_added(self) -> float | None:
        """Clock time the oldest record still waiting was added, or None when empty."""
        return self._items[0].added if self._items else None

    def take(self) -> list[Row]:
        """Remove and return every row (for a flush)."""
        rows = [p.row for p in self._items]
        self._items = []
        return rows

    def restore(self, rows: list[Row], now: float, cap: int) -> None:
        """A flush failed: put its rows back in front, keeping at most the newest ``cap``."""
        self._items = ([_Pending(r, now) for r in rows] + self._items)[-cap:]

    def remove(self, ranges: Iterable[tuple[int, int]]) -> int:
        """Drop rows a receipt covers (no disk write); returns how many went."""
        ranges = list(ranges)
        before = len(self._items)
        self._items = [p for p in self._items
                       if not any(lo <= p.row[0] <= hi for lo, hi in ranges)]
        return before - len(self._items)

    def rows_after(self, seq: int, limit: int) -> list[Row]:
        """Up to ``limit`` rows with a seq above ``seq``, oldest first."""
        return [p.row for p in self._items if p.row[0] > seq][:max(0, limit)]

    def rows_between(self, lo: int, hi: int) -> list[Row]:
        """Rows with lo <= seq <= hi, oldest first."""
        return [p.row for p in self._items if lo <= p.row[0] <= hi]

    def bounds(self) -> tuple[int | None, int | None]:
        """Lowest and highest seq held, or (None, None)."""
        if not self._items:
            return None, None
        return self._items[0].row[0], self._items[-1].row[0]
