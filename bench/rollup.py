"""NOC reads at scale: the 30-day node chart and the budget report from the 5-minute rollup.

Side by side in one run, on one SQLite database filled through the storage API (Storage.write
in batches of 5,000 samples, rollup maintained at insert as in production):

* node page 30d series of ONE node with 30 days of 10 s samples (259,200): ``node_series``
  (rollup) vs the anchor ``node_series_raw`` (every sample paged and decoded, the old path);
  wall time (median), peak RSS of the process (each path in its own fresh process; the
  rollup path stays under the ~110 MB the imports already take, so it adds 0) and, in one
  more untimed call, the Python heap peak (tracemalloc; for the raw anchors only without
  --quick, as tracing 259,200 decoded samples takes long);
* the budget report (``budget.compute``, daily, 30 days) over a fleet slice vs the anchor
  ``budget.compute_raw``: 50 nodes x 30 days at 60 s (2.16M samples); --quick: 20 nodes x
  7 days at 60 s (201,600 samples). The single node above is part of the fleet.

Usage: ``python bench/rollup.py [--quick]``; JSON line per figure, the last is the headline.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from central.config import RegistryNode  # noqa: E402
from central.noc import budget, series  # noqa: E402
from central.storage import Incoming, Storage  # noqa: E402
from central.storage.sqlite import SqliteStorage  # noqa: E402
from protocol.messages import Tele  # noqa: E402

DAY_MS = 86400_000
NOW = (int(time.time() * 1000) // 1000) * 1000
BATCH = 5000
GOAL_MS = 1000.0  # the node page must render within a second (bench/dashboard.py)
SITES = {f"site-{i}": {"name": f"Site {i}", "kind": "park", "capacity_mbps": 100}
         for i in range(10)}


def _sample(seq: int, ts: int, phase: float) -> dict[str, Any]:
    """A plausible sample: diurnal users and traffic, fibre active, LTE standby."""
    day = math.sin(2 * math.pi * ((ts / DAY_MS + phase) % 1.0))
    users = max(0, int(25 + 20 * day + (seq % 7)))
    rx = max(0.0, 30e6 + 25e6 * day + (seq % 13) * 1e5)
    return {"seq": seq, "ts_ms": ts, "users": {"total": users, "authenticated": users // 2},
            "uplinks": [
                {"name": "fibre", "up": True, "active": True, "rtt_ms": 15.0 + seq % 9,
                 "loss_pct": (seq % 50) / 100, "rx_bps": rx, "tx_bps": rx / 5},
                {"name": "lte", "up": True, "active": False, "rtt_ms": 60.0 + seq % 17,
                 "loss_pct": 1.0, "rx_bps": 0.0, "tx_bps": 0.0}],
            "system": {"cpu_pct": 12.0, "temp_c": 51.0},
            "shaping": {"version": 2, "down_kbps": 20000, "up_kbps": 5000} if seq % 500 < 50
            else None}


def fill_node(store: Storage, node: str, site: str, days: int, step_ms: int, phase: float) -> int:
    """`days` of samples every step_ms ending now, written in batches of BATCH."""
    n = days * DAY_MS // step_ms
    start = NOW - n * step_ms
    for lo in range(0, n, BATCH):
        smp = [_sample(i + 1, start + i * step_ms, phase) for i in range(lo, min(n, lo + BATCH))]
        store.write([Incoming(site, node, Tele.model_validate(
            {"site": site, "node": node, "ts_ms": NOW, "session": 1, "seq": lo + 1,
             "historical": True, "samples": smp}), NOW)])
    return n


def build(db: Path, nodes: int, fleet_days: int) -> dict[str, Any]:
    """The busy node (30 d at 10 s) plus nodes-1 fleet nodes (fleet_days at 60 s)."""
    t0 = time.perf_counter()
    store = SqliteStorage(db)
    names = [(f"node-{i:03d}", f"site-{i % len(SITES)}") for i in range(nodes)]
    store.sync_registry([RegistryNode(node=n, site=s, role="park", name=n) for n, s in names])
    busy = fill_node(store, names[0][0], names[0][1], 30, 10_000, 0.0)
    busy_s = time.perf_counter() - t0
    total = busy + sum(fill_node(store, n, s, fleet_days, 60_000, i / nodes)
                       for i, (n, s) in enumerate(names[1:], 1))
    store.close()
    secs = time.perf_counter() - t0
    return {"node": names[0][0], "busy_samples": busy, "samples": total,
            "busy_load_s": round(busy_s, 1), "load_s": round(secs, 1),
            "load_rate": round(total / secs)}


def measure(db: Path, what: str, node: str, reps: int, days: int,
            heap: bool) -> dict[str, Any]:
    """In this (fresh) process: median ms of `what` and the peak RSS it added."""
    store = SqliteStorage(db)
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fns = {"series": lambda: series.node_series(store, node, "30d", NOW),
           "series_raw": lambda: series.node_series_raw(store, node, "30d", NOW),
           "budget": lambda: budget.compute(store, SITES, days, False, NOW),
           "budget_raw": lambda: budget.compute_raw(store, SITES, days, False, NOW)}
    runs, out = [], None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fns[what]()
        runs.append((time.perf_counter() - t0) * 1000)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    heap_peak = None
    if heap:  # one more, untimed call: the Python heap it needs at its peak (slow when raw)
        tracemalloc.start()
        fns[what]()
        heap_peak = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
        tracemalloc.stop()
    store.close()
    points = len(out["t"]) if isinstance(out, dict) else len(out or [])
    return {"ms": statistics.median(runs), "runs": [round(r, 1) for r in runs],
            "peak_rss_mb": round(peak_kb / 1024, 1),
            "added_rss_mb": round((peak_kb - base_kb) / 1024, 1),
            "heap_peak_mb": heap_peak, "points": points, "digest": json.dumps(out, sort_keys=True, default=str)}


def child(db: Path, what: str, node: str, reps: int, days: int,
          heap: bool = True) -> dict[str, Any]:
    """measure() in a fresh interpreter, so each path's peak RSS is its own."""
    res = subprocess.run([sys.executable, __file__, "--child", what, "--db", str(db),
                          "--node", node, "--reps", str(reps), "--days", str(days),
                          "--now", str(NOW)] + (["--heap"] if heap else []), capture_output=True, text=True, check=True,
                         timeout=1500)
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    """Fill the database, measure both paths of both reads, print JSON lines."""
    global NOW
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="a smaller fleet slice (< 60 s)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--node", help=argparse.SUPPRESS)
    p.add_argument("--reps", type=int, default=3, help=argparse.SUPPRESS)
    p.add_argument("--days", type=int, default=30, help=argparse.SUPPRESS)
    p.add_argument("--now", type=int, help=argparse.SUPPRESS)
    p.add_argument("--heap", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        NOW = args.now
        print(json.dumps(measure(args.db, args.child, args.node, args.reps, args.days,
                                 args.heap)))
        return 0
    nodes, fleet_days = (20, 7) if args.quick else (50, 30)
    reps = 3 if args.quick else 5
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "central.db"
        info = build(db, nodes, fleet_days)
        print(json.dumps({"bench": "rollup", "metric": "load", **info,
                          "fleet": f"{nodes} nodes: 1 x 30 d at 10 s + {nodes - 1} x "
                                   f"{fleet_days} d at 60 s"}))
        node = info["node"]
        s_new = child(db, "series", node, reps, 30)
        s_raw = child(db, "series_raw", node, 1 if args.quick else 2, 30, not args.quick)
        b_new = child(db, "budget", node, reps, 30)
        b_raw = child(db, "budget_raw", node, 1, 30, not args.quick)
    same_series = s_new.pop("digest") == s_raw.pop("digest")
    same_budget = b_new.pop("digest") == b_raw.pop("digest")
    print(json.dumps({"bench": "rollup", "metric": "budget_30d_daily", "value": round(b_new["ms"]),
                      "unit": "ms", "anchor": round(b_raw["ms"]),
                      "ratio": round(b_new["ms"] / b_raw["ms"], 4), "samples": info["samples"],
                      "nodes": nodes, "rows": b_new["points"], "identical_output": same_budget,
                      "rollup": b_new, "raw": b_raw}))
    print(json.dumps({"bench": "rollup", "metric": "node_series_30d_memory",
                      "value": s_new["heap_peak_mb"], "unit": "MB (Python heap peak)",
                      "anchor": s_raw["heap_peak_mb"],
                      "added_peak_rss_mb": s_new["added_rss_mb"],
                      "anchor_added_peak_rss_mb": s_raw["added_rss_mb"],
                      "peak_rss_mb": s_new["peak_rss_mb"],
                      "anchor_peak_rss_mb": s_raw["peak_rss_mb"]}))
    print(json.dumps({"bench": "rollup", "metric": "node_series_30d_259200_samples",
                      "value": round(s_new["ms"], 1), "unit": "ms", "goal": f"< {GOAL_MS:.0f}",
                      "anchor": round(s_raw["ms"]), "ratio": round(s_new["ms"] / s_raw["ms"], 4),
                      "ok": s_new["ms"] < GOAL_MS and info["busy_samples"] == 259_200,
                      "points": s_new["points"], "identical_output": same_series,
                      "heap_peak_mb": s_new["heap_peak_mb"],
                      "anchor_heap_peak_mb": s_raw["heap_peak_mb"],
                      "peak_rss_mb": s_new["peak_rss_mb"], "anchor_peak_rss_mb": s_raw["peak_rss_mb"],
                      "runs": s_new["runs"], "anchor_runs": s_raw["runs"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
