"""Bytes per stored row and the retention delete rate, on SQLite and on PostgreSQL.

Fills a real database with N nodes x D days of realistic samples (the agent's sample builder,
10 s apart, two uplinks: bench/ingest.py's pool), written as the collector writes them
(tele messages of 50 samples, 10 messages per transaction, rollups folded per batch), then:

- sizes: per table, data + indexes (SQLite: the ``dbstat`` pages of each table and index after a
  checkpoint; PostgreSQL: ``pg_total_relation_size``, heap + TOAST + indexes, after ANALYZE),
  divided by its rows: the bytes per sample row and per rollup row docs/scaling.md sizes with;
- retention: one pass (central/storage/retention.py, batch 5,000, no pause) deleting the first
  day: rows deleted per second. Anchor in the same run: the fill's insert rate (samples/s).

JSON lines, one per backend and figure; the last line is the headline (SQLite bytes per
sample). ``--quick``: 5 nodes x 1 day (43,200 samples), SQLite only.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "pg"))

from ingest import loadavg, sample_pool  # noqa: E402

from central.storage import Incoming  # noqa: E402
from central.storage.base import Storage  # noqa: E402
from central.storage.postgres import PostgresStorage  # noqa: E402
from central.storage.retention import DAY_MS, Retention, RetentionPolicy  # noqa: E402
from central.storage.sqlite import SqliteStorage  # noqa: E402
from protocol.messages import Tele  # noqa: E402

PER_DAY = 8640  # one sample every 10 s
TABLES = ("samples", "events", "rollup_5m")


def fill(store: Storage, nodes: int, pool: list[dict[str, Any]]) -> float:
    """Write every node's samples (seq = position in the pool); seconds taken."""
    t0 = time.monotonic()
    for k in range(nodes):
        node = f"node-{k:04d}"
        batch: list[Incoming] = []
        for lo in range(0, len(pool), 50):
            recs = [{**b, "seq": lo + i} for i, b in enumerate(pool[lo:lo + 50])]
            msg = Tele.model_validate({"site": "site-1", "node": node, "ts_ms": recs[-1]["ts_ms"],
                                       "session": 1, "seq": lo, "historical": True,
                                       "samples": recs})
            batch.append(Incoming("site-1", node, msg, recs[-1]["ts_ms"]))
            if len(batch) == 10:
                store.write(batch)
                batch = []
        if batch:
            store.write(batch)
    return time.monotonic() - t0


def sqlite_sizes(path: Path) -> dict[str, int]:
    """Bytes of each table with its indexes (dbstat pages)."""
    with sqlite3.connect(path) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = c.execute("SELECT s.name, m.tbl_name, SUM(s.pgsize) FROM dbstat s "
                         "JOIN sqlite_master m ON m.name = s.name GROUP BY s.name").fetchall()
    out: dict[str, int] = {}
    for _, table, size in rows:
        out[table] = out.get(table, 0) + int(size)
    return out


def pg_sizes(url: str) -> dict[str, int]:
    """pg_total_relation_size of each table (heap, TOAST, indexes)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as c:
        c.execute("ANALYZE")
        return {t: int(c.execute("SELECT pg_total_relation_size(%s)", (t,)).fetchone()[0])  # type: ignore[index]
                for t in TABLES}


def measure(backend: str, store: Storage, sizes: Callable[[], dict[str, int]], nodes: int,
            days: int, pool: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill, size, delete the first day; the JSON lines of one backend."""
    fill_s = fill(store, nodes, pool)
    samples = nodes * len(pool)
    totals = store.totals()
    rollup_rows = sum(1 for n in range(nodes)
                      for _ in store.rollup(f"node-{n:04d}", 0, 2**62, 300_000))
    size = sizes()
    out: list[dict[str, Any]] = [{
        "bench": "retention", "backend": backend, "metric": "fill", "nodes": nodes,
        "days": days, "samples": samples, "stored": totals["samples"], "seconds": round(fill_s, 1),
        "insert_rate": round(samples / fill_s), "unit": "samples/s", "load": loadavg()}]
    out.append({"bench": "retention", "backend": backend, "metric": "bytes_per_sample",
                "value": round(size.get("samples", 0) / samples), "unit": "B/row (table+indexes)",
                "table_bytes": size.get("samples", 0)})
    out.append({"bench": "retention", "backend": backend, "metric": "bytes_per_rollup_row",
                "value": round(size.get("rollup_5m", 0) / max(rollup_rows, 1)),
                "unit": "B/row (table+indexes)", "rows": rollup_rows,
                "rows_per_node_day": round(rollup_rows / nodes / days),
                "table_bytes": size.get("rollup_5m", 0)})
    end_ms = max(int(b["ts_ms"]) for b in pool) + 1
    ret = Retention(store, RetentionPolicy(raw_days=max(days - 1, 1), rollup_days=3650,
                                           batch_rows=5000, pause_s=0))
    t0 = time.monotonic()
    done = ret.run_pass(end_ms + (DAY_MS if days == 1 else 0))
    del_s = time.monotonic() - t0
    out.append({"bench": "retention", "backend": backend, "metric": "delete_rate",
                "value": round(done["samples"] / del_s), "unit": "samples/s (batch 5000, no pause)",
                "deleted": done["samples"], "batches": ret.stats.batches,
                "seconds": round(del_s, 2), "left": store.totals()["samples"],
                "anchor_insert_rate": out[0]["insert_rate"],
                "ratio": round(done["samples"] / del_s / out[0]["insert_rate"], 2),
                "load": loadavg()})
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the bench; print JSON lines."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="5 nodes x 1 day, SQLite only")
    p.add_argument("--nodes", type=int, default=10)
    p.add_argument("--days", type=int, default=2)
    a = p.parse_args(argv)
    nodes, days = (5, 1) if a.quick else (a.nodes, a.days)
    pool = sample_pool(PER_DAY * days)
    lines: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kotanet-retention-") as tmp:
        path = Path(tmp) / "central.db"
        lite = SqliteStorage(path)
        try:
            lines += measure("sqlite", lite, lambda: sqlite_sizes(path), nodes, days, pool)
        finally:
            lite.close()
    if not a.quick:
        from pg_cluster import PgCluster

        cluster = PgCluster()
        cluster.start()
        try:
            url = cluster.new_database()
            pg = PostgresStorage(url)
            try:
                lines += measure("postgres", pg, lambda: pg_sizes(url), nodes, days, pool)
            finally:
                pg.close()
        finally:
            cluster.stop()
    for line in lines:
        print(json.dumps(line), flush=True)
    head = next(x for x in lines if x["metric"] == "bytes_per_sample")
    print(json.dumps({**head, "metric": "headline_bytes_per_sample"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
