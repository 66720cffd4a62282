"""The on-disk outbox (issue 3): every sample and event is stored here before any publish.

SQLite in WAL mode with ``synchronous=FULL``. Rows are deleted only when central's ``rx``
receipt covers them. Seqs come from one durable per-node counter and are never reused:
the high-water mark ``seq_hwm`` is committed together with each flush and reserves the next
``flush_every`` seqs; after a power loss the agent continues above the mark.

SD-card trade-off: records are first kept in a RAM buffer and written in one transaction
every ``flush_every`` records (or after ``flush_after_s``, at shutdown, or at once for a
warning/critical event). Receipts are applied in the same transaction. At the defaults (10 s
sampling, flush_every=6) that is about 60 fsync'd commits per hour instead of ~720
(360 inserts + 360 deletes). The price: on power loss up to ``flush_every`` buffered records
(one minute of samples) are lost; central sees their seqs as a gap, which is the truth.

Overflow: at most ``max_records`` rows and (when the wall clock is trusted) ``max_age_s`` of
age; the oldest are dropped and the range is stored in ``drops`` until a receipt shows that
central has received the report. Reads are paged (``LIMIT``): the backlog stays on disk, so
RSS is flat however large it grows.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.clock import Clock, monotonic, wall_s
from agent.config import OutboxSection
from agent.transport._drops import Drop, DropReports
from agent.transport.statefile import SeqFloor

log = logging.getLogger(__name__)

MAX_BUFFER = 10_000  # records kept in RAM while the disk refuses writes

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
        self._buffer: list[tuple[int, str, int, str]] = []
        self._buffered_at = 0.0
        self._acked: list[tuple[int, int]] = []
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
        self._commit(self.next_seq + cfg.flush_every)
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
        """Clock time of the last successful write to disk."""
        return self._last_flush

    # ------------------------------------------------------------ writing
    def add(self, kind: str, ts_ms: int, body: dict[str, Any], *, urgent: bool = False) -> int:
        """Buffer one record and return its seq; flushes when the buffer is full or urgent."""
        if self.next_seq >= self._hwm:
            self.flush()
        seq = self.next_seq
        self.next_seq += 1
        if not self._buffer:
            self._buffered_at = self._clock()
        self._buffer.append((seq, kind, ts_ms, json.dumps(body, separators=(",", ":"))))
        if urgent or len(self._buffer) >= self.cfg.flush_every:
            self.flush()
        return seq

    def flush_due(self) -> bool:
        """True if buffered records or receipts have waited longer than flush_after_s."""
        now = self._clock()
        if self._buffer and now - self._buffered_at >= self.flush_after_s:
            return True
        return bool(self._acked) and now - self._last_flush >= self.flush_after_s

    def flush(self, *, wall_ms: int | None = None, final: bool = False) -> None:
        """Write the buffer and apply receipts in one transaction, then enforce the caps."""
        rows, self._buffer = self._buffer, []
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

        hwm = self.next_seq if final else self.next_seq + self.cfg.flush_every
        try:
            self._commit(hwm, body)
        except sqlite3.Error:
            self._buffer = (rows + self._buffer)[-MAX_BUFFER:]  # keep them for the next try
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
        def body() -> None:
            self.count -= self._db.execute("DELETE FROM rec WHERE seq=?", (seq,)).rowcount
            self._drops.add(seq, seq, reason)

        self._commit(self._hwm, body)

    def ack(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Central committed these seq ranges: delete them at the next flush, never send again.

        A range that overlaps or adjoins the previous one is merged into it: receipts of a
        replay arrive oldest first, so the list stays short and ``is_acked`` (run for every
        record read) stays cheap however many receipts arrive between two flushes.
        """
        for lo, hi in ranges:
            lo, hi = int(lo), int(hi)
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
            if recs or len(rows) < limit:
                return recs
            seq = rows[-1][0]  # a whole page already receipted: look further

    def read_range(self, lo: int, hi: int) -> list[OutboxRecord]:
        """Stored records with lo <= seq <= hi (those not yet receipted)."""
        cur = self._db.execute("SELECT seq, kind, ts_ms, body FROM rec WHERE seq BETWEEN ? AND ? "
                               "ORDER BY seq", (lo, hi))
        return self._records(cur.fetchall())

    def bounds(self) -> tuple[int | None, int | None]:
        """Oldest and newest seq held (on disk or buffered), or (None, None) when empty."""
        lo, hi = self._db.execute("SELECT MIN(seq), MAX(seq) FROM rec").fetchone()
        if self._buffer:
            lo = self._buffer[0][0] if lo is None else lo
            hi = self._buffer[-1][0]
        return lo, hi

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
