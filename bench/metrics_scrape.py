"""The cost of one Prometheus scrape of central's /metrics as the fleet grows.

The collectors read current state at scrape time (the node table, then each registered node's
newest sample for its per-uplink gauges), so a scrape costs database reads proportional to the
fleet. Side by side in one run, on one SQLite database filled through the storage API with
NODES registered nodes (two uplinks each, a few samples): the median time to render the whole
registry (what ``GET /metrics`` does in its worker thread) against the anchor, the body of
``GET /api/v1/nodes`` (the node table and its JSON, which the NOC and API clients poll).
Goal: a scrape of 500 nodes within 1 s (Prometheus's default scrape timeout is 10 s).

Usage: ``python bench/metrics_scrape.py [--quick]``; one JSON line per fleet size, the last is
the headline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from central.api.nodes import node_summary  # noqa: E402
from central.api.state import METRICS  # noqa: E402
from central.assemble import build_app  # noqa: E402
from central.collector.stats import Stats  # noqa: E402
from central.config import RegistryNode, load_config  # noqa: E402
from central.metrics.registry import render  # noqa: E402
from central.storage import Incoming, Storage, open_storage  # noqa: E402
from protocol.messages import Tele  # noqa: E402

GOAL_S = 1.0
GOAL_NODES = 500


def fill(db: Path, nodes: int) -> tuple[list[RegistryNode], Storage]:
    """NODES registered nodes with 5 samples each; returns (registry, storage)."""
    reg = [RegistryNode(node=f"node-{i:04d}", site=f"site-{i % 40}") for i in range(nodes)]
    storage = open_storage(f"sqlite:///{db}")
    storage.sync_registry(reg)
    now = int(time.time() * 1000)
    batch = []
    for r in reg:
        samples = [{"seq": s, "ts_ms": now - 50_000 + s * 10_000,
                    "users": {"total": 10 + s, "authenticated": 5},
                    "uplinks": [{"name": "fibre", "up": True, "active": True, "rtt_ms": 15.0,
                                 "loss_pct": 0.5},
                                {"name": "lte", "up": True, "active": False, "rtt_ms": 60.0,
                                 "loss_pct": 1.0}],
                    "system": {"cpu_pct": 10.0, "temp_c": 50.0}} for s in range(1, 6)]
        batch.append(Incoming(r.site, r.node, Tele.model_validate(
            {"site": r.site, "node": r.node, "ts_ms": now, "session": 1, "seq": 1,
             "samples": samples}), now))
    storage.write(batch)
    return reg, storage


def median_s(fn: Callable[[], object], reps: int) -> tuple[float, list[float]]:
    """Median wall time of fn over reps runs (after one warm-up)."""
    fn()
    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs), runs


def one(nodes: int, reps: int) -> dict[str, object]:
    """Render time of /metrics and of the /api/v1/nodes body with `nodes` nodes stored."""
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "central.db"
        reg, storage = fill(db, nodes)
        env = {"KOTANET_DB": f"sqlite:///{db}", "KOTANET_HTTP": "127.0.0.1:1",
               "KOTANET_ADMIN_TOKEN": "bench-token-0123456789abcdef"}
        cfg = load_config(None, env=env).model_copy(update={"nodes": reg})
        app = build_app(cfg, storage, Stats(), with_policy=False)
        body = render(app[METRICS])
        scrape, runs = median_s(lambda: render(app[METRICS]), reps)
        api, api_runs = median_s(lambda: json.dumps(
            {"nodes": [node_summary(r) for r in storage.list_nodes()]}).encode(), reps)
        storage.close()
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return {"bench": "metrics_scrape", "metric": f"scrape_{nodes}_nodes",
            "value": round(scrape * 1000, 1), "unit": "ms", "goal": f"< {GOAL_S * 1000:.0f}",
            "anchor": round(api * 1000, 1), "ratio": round(scrape / api, 2),
            "ok": scrape < GOAL_S, "series": series, "bytes": len(body),
            "runs_ms": [round(r * 1000, 1) for r in runs],
            "anchor_runs_ms": [round(r * 1000, 1) for r in api_runs],
            "anchor_is": "GET /api/v1/nodes body (node table + JSON)"}


def main(argv: list[str] | None = None) -> int:
    """Measure a small fleet and the goal fleet; the last line is the headline."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer repetitions (< 60 s)")
    args = p.parse_args(argv)
    reps = 3 if args.quick else 9
    for nodes in (50, GOAL_NODES):
        print(json.dumps(one(nodes, reps)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
