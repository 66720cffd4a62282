"""Retention: delete old telemetry rows in small batches, in the background, off the ingest path.

What is kept (``[storage]``, docs/operations.md 1.7):

- ``raw_retention_days`` (default 30, 0 = forever): the per-record tables ``samples``,
  ``events`` and ``drops``. They go together because they share one seq space: the gap report
  compares neighbouring seqs of samples and events minus the reported drops, so deleting one of
  them but not the others would show false gaps. Samples by ``ts_ms``, events by ``ts_ms``,
  drops by ``received_ms``.
- ``rollup_retention_days`` (default 3650, 0 = forever, never shorter than the raw period):
  ``rollup_5m`` by ``bucket_ms`` (the NOC's 30-day chart and the budget pages read only
  rollups, so they outlive the raw samples) and ``cmd_acks`` by ``received_ms`` (a few rows
  per command: the command history).

Each batch is one short transaction of at most ``retention_batch_rows`` rows of ONE node
(every such table is keyed or indexed by node first: an index range, never a table scan),
followed by a pause of ``retention_pause_ms``, so the collector's writes wait at most one
batch. On PostgreSQL the batches use a connection of their own; on SQLite they take the one
write lock between the collector's batches. One log line per pass says what was deleted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from central.clock import wall_ms
from central.storage.base import Storage, StorageError

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
#: The tables retention deletes from, in deletion order, and which period each follows.
RAW_TABLES = ("samples", "events", "drops")
LONG_TABLES = ("rollup_5m", "cmd_acks")
TABLES = RAW_TABLES + LONG_TABLES


@dataclass(frozen=True)
class RetentionPolicy:
    """How long rows are kept and how the deletion is paced ([storage] keys)."""

    raw_days: int = 30
    rollup_days: int = 3650
    batch_rows: int = 5000
    pause_s: float = 0.05
    interval_s: float = 3600.0
    first_delay_s: float = 60.0

    def __post_init__(self) -> None:
        if self.raw_days < 0 or self.rollup_days < 0:
            raise ValueError("retention days must be >= 0 (0 = keep forever)")
        if self.rollup_days and (not self.raw_days or self.rollup_days < self.raw_days):
            raise ValueError(
                f"rollup_retention_days ({self.rollup_days}) must be 0 (forever) or at least "
                f"raw_retention_days ({self.raw_days or 'forever'}): the 5-minute rollups are "
                "what remains of the raw samples")
        if self.batch_rows < 1:
            raise ValueError("retention_batch_rows must be >= 1")

    def cutoffs(self, now_ms: int) -> dict[str, int]:
        """Per table the time below which rows are deleted (tables kept forever: absent)."""
        out: dict[str, int] = {}
        for tables, days in ((RAW_TABLES, self.raw_days), (LONG_TABLES, self.rollup_days)):
            if days:
                out.update((t, now_ms - days * DAY_MS) for t in tables)
        return out


@dataclass
class RetentionStats:
    """What this instance's retention did (read by /metrics at scrape time)."""

    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    passes: int = 0
    batches: int = 0
    errors: int = 0
    last_pass_ms: int = 0


class Retention:
    """Runs deletion passes over one Storage; ``run_pass`` blocks (call it off the loop)."""

    def __init__(self, storage: Storage, policy: RetentionPolicy) -> None:
        self.storage = storage
        self.policy = policy
        self.stats = RetentionStats()
        self._stop = threading.Event()

    def stop(self) -> None:
        """Make a running pass return after its current batch."""
        self._stop.set()

    def run_pass(self, now_ms: int | None = None) -> dict[str, int]:
        """Delete every row past its period, a batch at a time; rows deleted per table."""
        now_ms = wall_ms() if now_ms is None else now_ms
        t0 = time.monotonic()
        cutoffs = self.policy.cutoffs(now_ms)
        done = dict.fromkeys(cutoffs, 0)
        batches = 0
        if cutoffs:
            nodes = self.storage.retention_nodes()
            for table, cutoff in cutoffs.items():
                for node in nodes:
                    while not self._stop.is_set():
                        n = self.storage.delete_old(table, node, cutoff, self.policy.batch_rows)
                        batches += 1
                        done[table] += n
                        self.stats.deleted[table] += n
                        self.stats.batches += 1
                        if n == 0:
                            break
                        self._stop.wait(self.policy.pause_s)  # let the collector's writes in
                        if n < self.policy.batch_rows:
                            break
        self.stats.passes += 1
        self.stats.last_pass_ms = now_ms
        log.info("retention pass: deleted %s in %d batch(es), %.1f s%s",
                 ", ".join(f"{t}={n}" for t, n in done.items()) or "nothing (keep forever)",
                 batches, time.monotonic() - t0, " (stopped)" if self._stop.is_set() else "")
        return done

    async def run(self, leads: Callable[[], bool]) -> None:
        """Every interval_s, run a pass in a thread while ``leads()`` (only the leader deletes:
        one deleter per database, not one per instance contending for the same rows)."""
        await asyncio.sleep(self.policy.first_delay_s)
        while not self._stop.is_set():
            if leads():
                try:
                    await asyncio.to_thread(self.run_pass)
                except StorageError as exc:
                    self.stats.errors += 1
                    log.error("retention pass failed (retried next interval): %s", exc)
                except Exception:  # a bug must not end retention for the process's life
                    self.stats.errors += 1
                    log.exception("retention pass failed unexpectedly (retried next interval)")
            await asyncio.sleep(self.policy.interval_s)
