"""The 5-minute rollup on SQLite AND PostgreSQL: equal to the raw computation, idempotent,
exact under concurrent writers, backfilled on open of an older database, late data in place."""

from __future__ import annotations

import logging
import math
import random
import sqlite3
import threading
from typing import Any

import psycopg
import pytest
from test_pg_concurrency import OpenFn, _run_all

from central.config import RegistryNode
from central.noc import budget, series
from central.storage import Incoming
from central.storage.base import Storage
from central.storage.postgres import PostgresStorage
from central.storage.rollup import BACKFILL_DAYS, BUCKET_MS
from protocol.messages import Tele

NOW = 1_795_000_000_000 + 123_456  # not on a bucket boundary
DAY = 86400_000
SITES = {"s1": {"name": "Site 1", "kind": "office", "capacity_mbps": 100},
         "s2": {"capacity_mbps": 40}}
NODES = [("a1", "s1"), ("a2", "s1"), ("b1", "s2")]


def _sample(rnd: random.Random, seq: int, ts: int) -> dict[str, Any]:
    """A sample with varied values: missing rates, missing RTT, users, shaping, uplink order."""
    ups = []
    for name in ("fibre", "lte"):
        rate = rnd.random()
        ups.append({"name": name, "active": name == "fibre",
                    "rtt_ms": None if rnd.random() < 0.1 else round(rnd.uniform(5, 90), 3),
                    "loss_pct": None if rnd.random() < 0.1 else round(rnd.uniform(0, 20), 2),
                    "rx_bps": None if rate < 0.15 else rnd.uniform(0, 80e6),
                    "tx_bps": None if rate < 0.25 else rnd.uniform(0, 10e6)})
    if rnd.random() < 0.05:
        ups.reverse()
    shaping = None
    if rnd.random() < 0.3:
        kbps = rnd.choice([0, 8000, 12000, 20000])
        shaping = {"version": 3, "down_kbps": kbps, "up_kbps": kbps // 4}
    return {"seq": seq, "ts_ms": ts, "uplinks": ups, "shaping": shaping,
            "users": {"total": None if rnd.random() < 0.05 else rnd.randint(0, 60)}}


def _tele(node: str, site: str, samples: list[dict[str, Any]], t: int = NOW,
          historical: bool = False) -> Incoming:
    return Incoming(site, node, Tele.model_validate(
        {"site": site, "node": node, "ts_ms": t, "session": 1, "seq": samples[0]["seq"],
         "historical": historical, "samples": samples}), t)


def _fill(store: Storage, days: float = 3, step_ms: int = 60_000, seed: int = 7) -> int:
    """NODES with samples every step_ms over the last `days` days; returns the sample count."""
    rnd = random.Random(seed)
    store.sync_registry([RegistryNode(node=n, site=s, role="park", name=n) for n, s in NODES])
    count = int(days * DAY / step_ms)
    for node, site in NODES:
        jitter = rnd.randint(0, step_ms - 1)
        smp = [_sample(rnd, i + 1, NOW - count * step_ms + i * step_ms + jitter)
               for i in range(count)]
        for i in range(0, count, 500):
            store.write([_tele(node, site, smp[i:i + 500])])
    return count * len(NODES)


# The last decimal each output is rounded to: a mean summed in another order may round to the
# neighbouring value when it lies on a ...5 boundary, never further.
_UNIT = {"rtt": 0.1, "users": 0.1, "loss": 0.01, "rx": 0.001, "tx": 0.001, "p95_mbps": 0.01,
         "peak_mbps": 0.01, "p95_pct": 0.1}


def _close(a: Any, b: Any, path: str = "") -> None:
    """Equal; floats within float rounding plus at most one unit of the output's rounding."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        unit = next((u for k, u in _UNIT.items() if f".{k}" in path), 1e-9)
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=unit * 1.001), (path, a, b)
    else:
        assert a == b, (path, a, b)


def _same_as_raw(store: Storage, now: int = NOW) -> None:
    for node, _ in NODES:
        for rng in ("24h", "7d", "30d"):
            _close(series.node_series(store, node, rng, now),
                   series.node_series_raw(store, node, rng, now), f"{node}/{rng}")
    for days, monthly in ((1, False), (3, False), (7, False), (30, True), (62, True)):
        got = budget.compute(store, SITES, days, monthly, now)
        want = budget.compute_raw(store, SITES, days, monthly, now)
        _close(got, want, f"budget {days} {monthly}")
        assert got, "budget rows expected"


def _dump(store: Storage) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Every rollup row (one per node, uplink and 5-minute bucket), every column."""
    out = {}
    for node, _ in NODES:
        for r in store.rollup(node, 0, 2**62, BUCKET_MS):
            out[(node, r["uplink"], int(r["first_ms"]))] = {
                k: float(v) if isinstance(v, float) else v for k, v in r.items()
                if k not in ("k", "first_ms")}
    return out


def _rollup_count(store: Storage, node: str) -> int:
    rows = store.rollup(node, 0, 2**62, 2**40)
    return sum(int(r["n"]) for r in rows if r["uplink"] == "")


def test_rollup_equals_raw_aggregation(store: Storage) -> None:
    total = _fill(store)
    assert sum(_rollup_count(store, n) for n, _ in NODES) == total
    _same_as_raw(store)
    day = series.node_series(store, "a1", "24h", NOW)
    assert day["uplinks"] == ["fibre", "lte"] and 280 <= len(day["t"]) <= 289
    month = series.node_series(store, "a1", "30d", NOW)
    assert len(month["t"]) <= 361 and month["bucket_s"] == 7200
    assert any(v is not None for v in month["shape_down"])


def test_duplicates_are_not_counted_twice(store: Storage) -> None:
    rnd = random.Random(3)
    smp = [_sample(rnd, i + 1, NOW - 3600_000 + i * 10_000) for i in range(300)]
    store.write([_tele("a1", "s1", smp[:200]), _tele("a1", "s1", smp[100:250])])  # one batch
    store.write([_tele("a1", "s1", smp[:300])])  # the re-sent window
    store.write([_tele("a1", "s1", smp[250:])])
    assert _rollup_count(store, "a1") == 300 == store.totals()["samples"]
    rows = store.rollup("a1", 0, 2**62, 2**40)
    fibre = next(r for r in rows if r["uplink"] == "fibre")
    assert fibre["n"] == 300
    assert fibre["rtt_n"] == sum(1 for s in smp for u in s["uplinks"]
                                 if u["name"] == "fibre" and u["rtt_ms"] is not None)
    _close(series.node_series(store, "a1", "24h", NOW),
           series.node_series_raw(store, "a1", "24h", NOW))


def test_concurrent_writers_give_exact_counts(open_backend: OpenFn) -> None:
    """Two collectors (own connections, own threads) insert overlapping batches of ONE node."""
    a, b = open_backend(), open_backend()
    rnd = random.Random(5)
    smp = [_sample(rnd, i + 1, NOW - 6 * 3600_000 + i * 10_000) for i in range(2000)]
    # both writers send every sample (in different batchings and orders): all overlap
    first = [[_tele("a1", "s1", smp[i:i + 50])] for i in range(0, 2000, 50)]
    second = [[_tele("a1", "s1", smp[i:i + 70]), _tele("a1", "s1", smp[i + 35:i + 105])]
              for i in range(0, 2000, 70)][::-1]

    def writer(store: Storage, batches: list[list[Incoming]]) -> None:
        for batch in batches:
            store.write(batch)

    _run_all([lambda: writer(a, first), lambda: writer(b, second)])
    assert a.totals()["samples"] == 2000
    assert _rollup_count(a, "a1") == 2000
    rows = a.rollup("a1", 0, 2**62, BUCKET_MS)
    assert sum(int(r["n"]) for r in rows if r["uplink"] == "lte") == 2000
    assert sum(int(r["users_n"]) for r in rows) == sum(
        1 for s in smp if s["users"]["total"] is not None)
    _close(series.node_series(a, "a1", "24h", NOW), series.node_series_raw(a, "a1", "24h", NOW))


def test_late_samples_land_in_their_own_buckets(store: Storage) -> None:
    rnd = random.Random(9)
    store.sync_registry([RegistryNode(node=n, site=s, role="park", name=n) for n, s in NODES])
    recent = [_sample(rnd, i + 1000, NOW - 1800_000 + i * 10_000) for i in range(180)]
    store.write([_tele("a1", "s1", recent)])
    before = series.node_series(store, "a1", "7d", NOW)
    # the agent's backlog of 4 days ago arrives now, as a historical batch
    old_start = NOW - 4 * DAY
    late = [_sample(rnd, i + 1, old_start + i * 10_000) for i in range(360)]
    store.write([_tele("a1", "s1", late, t=NOW, historical=True)])
    rows = store.rollup("a1", 0, 2**62, BUCKET_MS)
    node_rows = {int(r["first_ms"]): int(r["n"]) for r in rows if r["uplink"] == ""}
    assert sum(n for b, n in node_rows.items() if b < NOW - DAY) == 360
    assert min(node_rows) == old_start - old_start % BUCKET_MS
    assert sum(n for b, n in node_rows.items() if b >= NOW - DAY) == 180  # untouched
    after = series.node_series(store, "a1", "7d", NOW)
    assert len(after["t"]) > len(before["t"])
    _close(after, series.node_series_raw(store, "a1", "7d", NOW))
    _close(budget.compute(store, SITES, 7, False, NOW),
           budget.compute_raw(store, SITES, 7, False, NOW))


def _make_old(store: Storage) -> None:
    """Turn the database into what the previous version created: no rollup_5m, version 1."""
    path = getattr(store, "path", None)
    store.close()
    if path is not None:
        with sqlite3.connect(path) as db:
            db.execute("DROP TABLE rollup_5m")
            db.execute("PRAGMA user_version=1")
    else:
        assert isinstance(store, PostgresStorage)
        with psycopg.connect(store.url, autocommit=True) as pg:
            pg.execute("DROP TABLE rollup_5m")
            pg.execute("DELETE FROM schema_version WHERE version = 2")


def test_older_database_gets_the_table_and_a_backfill(open_backend: OpenFn,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    first = open_backend()
    total = _fill(first, days=2, step_ms=30_000)
    want = {n: _rollup_count(first, n) for n, _ in NODES}
    table_before = _dump(first)
    series_before = series.node_series(first, "a1", "7d", NOW)
    # a sample older than the backfill reaches (it would only ever be read raw)
    ancient = NOW - (BACKFILL_DAYS + 5) * DAY
    first.write([_tele("b1", "s2", [_sample(random.Random(1), 10**6, ancient)])])
    _make_old(first)
    with caplog.at_level(logging.INFO, logger="central.storage"):
        again = open_backend()
    assert any("rollup backfill" in r.getMessage() and f"{total} samples" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert {n: _rollup_count(again, n) for n, _ in NODES} == want
    table_after = _dump(again)  # the backfill builds exactly what the inserts built
    assert table_after.keys() == table_before.keys()
    for key, row in table_before.items():
        for col, v in row.items():
            w = table_after[key][col]
            assert (math.isclose(v, w, rel_tol=1e-12) if isinstance(v, float) else v == w), \
                (key, col, v, w)
    assert sum(want.values()) == total
    _close(series.node_series(again, "a1", "7d", NOW), series_before)
    _same_as_raw(again)
    # opening again does not backfill twice, and new writes still merge
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="central.storage"):
        third = open_backend()
    assert not any("rollup backfill" in r.getMessage() for r in caplog.records)
    rnd = random.Random(11)
    third.write([_tele("a1", "s1", [_sample(rnd, 10**6, NOW - 60_000)])])
    assert _rollup_count(third, "a1") == want["a1"] + 1


def test_concurrent_writer_threads_on_one_handle(store: Storage) -> None:
    """The same handle used by several threads (the API and the writer share one) stays exact."""
    rnd = random.Random(2)
    smp = [_sample(rnd, i + 1, NOW - 3600_000 + i * 5_000) for i in range(600)]
    threads = [threading.Thread(target=lambda k=k: [store.write([_tele("a2", "s1", smp[i:i + 40])])
                                                    for i in range(k * 10, 600, 40)])
               for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert _rollup_count(store, "a2") == store.totals()["samples"]
