"""The on-disk outbox (issues 3, 15): durable seqs, a RAM buffer, SQLite for what is owed.

SQLite (WAL, ``synchronous=FULL``); rows go only when an ``rx`` receipt covers them. Seqs are
never reused: ``seq_hwm``, committed with each write, reserves the next ``flush_every`` seqs (x
``RESERVE_FLUSHES``, write-behind); after a power loss the agent continues above it. Write-behind
(``write_behind = true``, issue 15): a new record waits in RAM, readable by the forwarder at once;
a receipt removes it from RAM, so it never touches the card. A flush (``flush_every`` records
unreceipted, the oldest waiting ``flush_after_s``, a warning/critical event or failover
transition, stop) writes only what no receipt covered: online almost nothing, offline or behind
all (the old order). ``false``: flush, then send. A power cut loses at most the ``flush_every``
unreceipted records in RAM; central sees their seqs as a gap. Overflow drops the oldest.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from agent.clock import Clock, monotonic, wall_s
from agent.config import OutboxSection
from agent.transport._drops import Drop, DropReports
from agent.transport._pending import PendingRecords, Row
from agent.transport.statefile import SeqFloor

log = logging.getLogger(__name__)

MAX_BUFFER = 10_000  # records kept in RAM while the disk refuses writes
RESERVE_FLUSHES = 20  # write-behind: seqs reserved per hwm commit, in units of flush_every
TRANSITIONS = frozenset({"failover", "failback", "failover_failed"})  # written at once

SCHEMA = """
CREATE TABLE IF NOT EXISTS rec (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL,
                                ts_ms INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS drops (id INTEGER PRIMARY KEY AUTOINCREMENT, lo INTEGER NOT NULL,
                                  hi INTEGER NOT NULL, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class OutboxRecord:
    """One stored sample ("sample") or event ("event") without its seq in the body."""

    seq: int
    kind: str
    ts_ms: int
    body: dict[str, Any]


class Outbox:
    """Durable store-and-forward queue of one node's records."""

    trace: ClassVar[Callable[[Path, int, str], None] | None] = None  # sim/tests: every new seq

    def __init__(self, path: str | Path, cfg: OutboxSection, *, flush_after_s: float = 60.0,
                 clock: Clock = monotonic) -> None:
        self.cfg = cfg
        self.flush_after_s = flush_after_s
        self._clock = clock
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.floor = SeqFloor(self.path.with_name(self.path.name + ".seqfloor"))
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:  # SD-card corruption must not stop the node
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(wall_s())}")
            log.error("outbox %s is unreadable (%s): moved to %s, starting empty",
                      self.path, exc, aside)
            self.path.rename(aside)
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._db = self._open()
        self._buffer = PendingRecords()
        self._reserve = cfg.flush_every * (RESERVE_FLUSHES if cfg.write_behind else 1)
        self._acked: list[tuple[int, int]] = []
        self._failing = False  # the last write failed (no check point counts then)
        self._last_flush = clock()
        self._hwm = 0
        self.commits = 0
        self._drops = DropReports(self._db)
        hwm = self._meta("seq_hwm")
        top = self._db.execute("SELECT MAX(seq) FROM rec").fetchone()[0]
        dtop = self._db.execute("SELECT MAX(hi) FROM drops").fetchone()[0]
        self.next_seq = max(hwm, -1 if top is None else top + 1, -1 if dtop is None else dtop + 1)
        if hwm == 0:  # new or replaced database: continue above every seq ever reserved
            self.next_seq = max(self.next_seq, self.floor.value)
        self.count = int(self._db.execute("SELECT COUNT(*) FROM rec").fetchone()[0])
        self.flushed_upto = -1 if top is None else int(top)  # highest seq written to disk
        self._commit(self.next_seq + self._reserve)
        log.info("outbox %s: %d records, next seq %d", self.path, self.count, self.next_seq)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA cache_size=-256")
            db.executescript(SCHEMA)
            db.execute("SELECT MAX(seq), COUNT(*) FROM rec").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _commit(self, hwm: int, body: Callable[[], None] | None = None) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if body is not None:
                body()
            self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('seq_hwm', ?)",
                             (hwm,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._hwm = hwm
        self.commits += 1
        self._last_flush = self._clock()
        self.floor.cover(hwm)

    @property
    def last_commit(self) -> float:
        """Clock time of the last successful write, or of a check point owing the card nothing."""
        return self._last_flush

    @property
    def sendable_upto(self) -> int:
        """Highest seq the forwarder may read: every record (write-behind) or those on disk."""
        return self.next_seq - 1 if self.cfg.write_behind else self.flushed_upto

    def add(self, kind: str, ts_ms: int, body: dict[str, Any], *, urgent: bool = False) -> int:
        """Buffer one record and return its seq; flushes when the buffer is full or urgent."""
        if self.next_seq >= self._hwm:
            self.flush()
        seq = self.next_seq
        self.next_seq += 1
        if Outbox.trace is not None:
            Outbox.trace(self.path, seq, kind)
        self._buffer.append((seq, kind, ts_ms, json.dumps(body, separators=(",", ":"))),
                            self._clock())
        urgent = urgent or (kind == "event" and (body.get("severity", "info") != "info"
                                                 or body.get("kind") in TRANSITIONS))
        if urgent or len(self._buffer) >= self.cfg.flush_every:
            self.flush()
        return seq

    def flush_due(self) -> bool:
        """True if buffered records or receipts have waited longer than flush_after_s."""
        now = self._clock()
        oldest = self._buffer.oldest_added()
        if oldest is not None and now - oldest >= self.flush_after_s:
            return True
        waited = now - self._last_flush >= self.flush_after_s
        if not self.cfg.write_behind:
            return bool(self._acked) and waited
        if waited and sum(hi - lo + 1 for lo, hi in self._acked) >= self.cfg.flush_every:
            return True  # write-behind: fewer receipted rows wait for a commit due anyway
        if waited and not self._failing:  # nothing owed to the card: a free check point
            self._last_flush = now
        return False

    def flush(self, *, wall_ms: int | None = None, final: bool = False) -> None:
        """Write the unreceipted records and apply receipts in one transaction, then the caps."""
        rows: list[Row] = self._buffer.take()
        acked, self._acked = self._acked, []

        def body() -> None:
            for lo, hi in acked:
                self.count -= self._db.execute("DELETE FROM rec WHERE seq BETWEEN ? AND ?",
                                               (lo, hi)).rowcount
            self._db.executemany("INSERT INTO rec(seq, kind, ts_ms, body) VALUES (?,?,?,?)", rows)
            self.count += len(rows)
            self._drop_overflow()
            if wall_ms is not None:
                self._drop_aged(wall_ms)

        hwm = self.next_seq if final else self.next_seq + self._reserve
        try:
            self._failing = True
            self._commit(hwm, body)
            self._failing = False
        except sqlite3.Error:
            self._buffer.restore(rows, self._clock(), MAX_BUFFER)  # keep them for the next try
            self._acked = acked + self._acked
            self.count = int(self._db.execute("SELECT COUNT(*) FROM rec").fetchone()[0])
            raise
        if rows:
            self.flushed_upto = rows[-1][0]

    def _drop_upto(self, hi: int, reason: str) -> None:
        lo = self._db.execute("SELECT MIN(seq) FROM rec").fetchone()[0]
        if lo is None or hi < lo:
            return
        self.count -= self._db.execute("DELETE FROM rec WHERE seq <= ?", (hi,)).rowcount
        self._drops.add(lo, hi, reason)

    def _drop_overflow(self) -> None:
        excess = self.count - self.cfg.max_records
        if excess > 0:
            row = self._db.execute("SELECT seq FROM rec ORDER BY seq LIMIT 1 OFFSET ?",
                                   (excess - 1,)).fetchone()
            self._drop_upto(int(row[0]), "overflow")

    def _drop_aged(self, wall_ms: int) -> None:
        cutoff = wall_ms - self.cfg.max_age_s * 1000
        last_old: int | None = None
        for seq, ts in self._db.execute("SELECT seq, ts_ms FROM rec ORDER BY seq LIMIT 5000"):
            if ts >= cutoff:
                break
            last_old = seq
        if last_old is not None:
            self._drop_upto(last_old, "age")

    def discard(self, seq: int, reason: str) -> None:
        """Delete one unsendable record now and report it as dropped."""
        self._buffer.remove([(seq, seq)])

        def body() -> None:
            self.count -= self._db.execute("DELETE FROM rec WHERE seq=?", (seq,)).rowcount
            self._drops.add(seq, seq, reason)

        self._commit(self._hwm, body)

    def ack(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Central committed these seqs: RAM records go now, rows on disk at the next flush."""
        # adjoining ranges merge (replay receipts come oldest first): is_acked stays cheap
        ranges = [(int(lo), int(hi)) for lo, hi in ranges]
        self._buffer.remove(ranges)
        for lo, hi in ranges:
            hi = min(hi, self.flushed_upto)  # above it nothing is on disk
            if hi < lo:
                continue
            if self._acked and lo <= self._acked[-1][1] + 1 and hi >= self._acked[-1][0] - 1:
                plo, phi = self._acked[-1]
                self._acked[-1] = (min(lo, plo), max(hi, phi))
            else:
                self._acked.append((lo, hi))

    def is_acked(self, seq: int) -> bool:
        """True if a receipt covers seq but its row is not deleted yet."""
        return any(lo <= seq <= hi for lo, hi in self._acked)

    # ------------------------------------------------------------ reading (paged, from disk)
    def _records(self, rows: Iterable[tuple[int, str, int, str]]) -> list[OutboxRecord]:
        return [OutboxRecord(seq, kind, ts, json.loads(body)) for seq, kind, ts, body in rows
                if not self.is_acked(seq)]

    def read_after(self, seq: int, limit: int) -> list[OutboxRecord]:
        """Up to ``limit`` unreceipted records with seq > ``seq``, oldest first (paged)."""
        while True:
            rows = self._db.execute("SELECT seq, kind, ts_ms, body FROM rec WHERE seq > ? "
                                    "ORDER BY seq LIMIT ?", (seq, limit)).fetchall()
            recs = self._records(rows)
            if len(rows) < limit and self.cfg.write_behind:  # disk exhausted: then RAM
                recs += self._records(self._buffer.rows_after(seq, limit - len(recs)))
            if recs or len(rows) < limit:
                return recs
            seq = rows[-1][0]  # a whole page already receipted: look further

    def read_range(self, lo: int, hi: int) -> list[OutboxRecord]:
        """Stored records with lo <= seq <= hi (those not yet receipted)."""
        cur = self._db.execute("SELECT seq, kind, ts_ms, body FROM rec WHERE seq BETWEEN ? AND ? "
                               "ORDER BY seq", (lo, hi))
        return self._records(cur.fetchall() + self._buffer.rows_between(lo, hi))

    def bounds(self) -> tuple[int | None, int | None]:
        """Oldest and newest seq held (on disk or buffered), or (None, None) when empty."""
        lo, hi = self._db.execute("SELECT MIN(seq), MAX(seq) FROM rec").fetchone()
        blo, bhi = self._buffer.bounds()
        return (blo if lo is None else lo), (hi if bhi is None else bhi)

    def drops(self, limit: int = 50) -> list[Drop]:
        """Pending drop reports, oldest first."""
        return self._drops.pending(limit)

    def claim_drops(self, limit: int = 50) -> list[Drop]:
        """Pending drop reports no unreceipted batch carries yet; they are now carried."""
        return self._drops.claim(limit)

    def release_drops(self, ids: Iterable[int]) -> None:
        """The batch carrying these reports is gone unreceipted: they may be claimed again."""
        self._drops.release(ids)

    def forget_drops(self, ids: Iterable[int]) -> None:
        """Central has received these drop reports."""
        self._drops.forget(ids)

    def close(self) -> None:
        """Flush everything and close; the next start continues at the exact next seq."""
        self.flush(final=True)
        self._db.close()
