"""Drop reports of the outbox: seq ranges the agent dropped itself, kept until central has them.

Private to agent.transport: the outbox owns the ``drops`` table (in its own transactions) and
the forwarder claims reports through the outbox, so that each report rides in at most one
unreceipted batch at a time and is deleted only when a receipt covers that batch.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

log = logging.getLogger("agent.transport.outbox")  # what operators grep for: the outbox's log

MERGEABLE = ("overflow", "age")  # these always cut everything below their upper end


@dataclass(frozen=True)
class Drop:
    """A range of seqs the agent dropped itself, to be reported in a tele's ``dropped``."""

    id: int
    lo: int
    hi: int
    reason: str


class DropReports:
    """The ``drops`` table of one outbox database, and which reports a batch carries."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._busy: set[int] = set()  # drop ids carried by an unreceipted batch

    def add(self, lo: int, hi: int, reason: str) -> None:
        """Record a dropped range (inside the caller's transaction); extends the last one."""
        last = self._db.execute("SELECT id, lo, reason FROM drops ORDER BY id DESC LIMIT 1"
                                ).fetchone()
        if reason in MERGEABLE and last and last[2] == reason and last[0] not in self._busy:
            self._db.execute("UPDATE drops SET lo=MIN(lo, ?), hi=MAX(hi, ?) WHERE id=?",
                             (lo, hi, last[0]))
        else:
            self._db.execute("INSERT INTO drops(lo, hi, reason) VALUES (?,?,?)", (lo, hi, reason))
        log.warning("outbox dropped seqs %d-%d (%s)", lo, hi, reason)

    def pending(self, limit: int) -> list[Drop]:
        """Reports central has not received yet, oldest first."""
        cur = self._db.execute("SELECT id, lo, hi, reason FROM drops ORDER BY id LIMIT ?", (limit,))
        return [Drop(*row) for row in cur.fetchall()]

    def claim(self, limit: int) -> list[Drop]:
        """Pending reports no unreceipted batch carries yet; from now on they are carried."""
        free = [d for d in self.pending(limit) if d.id not in self._busy]
        self._busy.update(d.id for d in free)
        return free

    def release(self, ids: Iterable[int]) -> None:
        """The batch carrying these reports is gone unreceipted: they may be claimed again."""
        self._busy.difference_update(ids)

    def forget(self, ids: Iterable[int]) -> None:
        """Central has received these reports: delete them."""
        ids = list(ids)
        if ids:
            self._db.executemany("DELETE FROM drops WHERE id=?", [(i,) for i in ids])
        self._busy.difference_update(ids)
