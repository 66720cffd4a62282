"""Freshness (issue 15): sample-to-commit lag and SD-card cost of the write-behind outbox.

Two kotanet-sim processes of real agents (simulated probes), shipped outbox defaults, one
real mosquitto and one real central: N nodes with ``write_behind = true`` and, as the anchor
in the same run, N nodes with today's flush-then-send order (``write_behind = false``).
Lag: a sample's ``ts_ms`` to the moment its row is visible in central's database (polled
every 0.1 s, so an upper bound). Card cost per node per hour: committed outbox transactions
(kotanet-sim's SIGUSR1 stats) and bytes written (``/proc/PID/io`` write_bytes via psutil),
online and during a broker outage; then the backlog must arrive without a gap.
``--quick`` (within 60 s): 10 + 10 nodes and time-warped: every interval and phase is 1/40
(0.25 s sampling; per-hour figures are scaled back). Last stdout line: the headline JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import psutil

from agent.config import OutboxSection
from agent.sim.stack import Proc, Stack, wait_until

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_INTERVAL_S = 10.0
GOAL_LAG_P99_MS = 1000.0
GOAL_WRITE_RATIO = 0.1
FAST = ["--log-level", "WARNING", "--set", "mqtt.reconnect_min_s=0.2",
        "--set", "mqtt.reconnect_max_s=1"]
GROUPS = ("write_behind", "anchor")


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) of values, nearest rank; nan when empty."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


class Watcher:
    """Polls central's database; remembers when each (node, seq) sample first became visible."""

    def __init__(self, db: Path) -> None:
        self.db, self.seen_ms = db, 0
        self.first: dict[tuple[str, int], tuple[int, int]] = {}  # -> (ts_ms, visible_ms)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        since = 0
        while not self._stop.wait(0.1):
            now = int(time.time() * 1000)
            try:
                with closing(sqlite3.connect(self.db, timeout=5)) as db:
                    rows = db.execute("SELECT node, seq, ts_ms, received_ms FROM samples "
                                      "WHERE received_ms >= ?", (since,)).fetchall()
            except sqlite3.Error:
                continue
            for node, seq, ts, rec in rows:
                self.first.setdefault((node, int(seq)), (int(ts), now))
                since = max(since, int(rec) - 5_000)  # rows commit shortly after arrival

    def lags_ms(self, nodes: set[str], lo_ms: int, hi_ms: int) -> list[float]:
        """Visible minus measured, for samples of these nodes measured in [lo_ms, hi_ms)."""
        return [float(v - ts) for (node, _), (ts, v) in list(self.first.items())
                if node in nodes and lo_ms <= ts < hi_ms]


def snapshot(proc: Proc) -> dict[str, float]:
    """Committed outbox transactions (sum over the process's nodes) and bytes written."""
    before = proc.log_path.read_text(errors="replace").count("sim_stats")
    psutil.Process(proc.pid).send_signal(signal.SIGUSR1)  # kotanet-sim prints its stats
    wait_until(lambda: proc.log_path.read_text(errors="replace").count("sim_stats") > before,
               10, "sim stats")
    line = [ln for ln in proc.log_path.read_text(errors="replace").splitlines()
            if "sim_stats" in ln][-1]
    stats: dict[str, dict[str, int]] = json.loads(line)["sim_stats"]
    return {"commits": float(sum(s["commits"] for s in stats.values())),
            "bytes": float(psutil.Process(proc.pid).io_counters().write_bytes),
            "t": time.monotonic()}


def per_node_hour(a: dict[str, float], b: dict[str, float], nodes: int,
                  warp: float) -> dict[str, float]:
    """Commits and bytes per node per (simulated) hour between two snapshots."""
    hours = (b["t"] - a["t"]) * warp / 3600.0
    return {"commits": (b["commits"] - a["commits"]) / nodes / hours,
            "bytes": (b["bytes"] - a["bytes"]) / nodes / hours}


def backlog_complete(st: Stack, nodes: set[str], after_ms: int) -> bool:
    """No gap at central for these nodes, and each has a sample measured after after_ms."""
    gaps = [g for g in st.api("/api/v1/gaps")["gaps"] if g["node"] in nodes]
    with closing(sqlite3.connect(st.db_path, timeout=5)) as db:
        fresh = {r[0] for r in db.execute("SELECT DISTINCT node FROM samples WHERE ts_ms > ?",
                                          (after_ms,))}
    return not gaps and nodes <= fresh


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """One side-by-side run; returns every figure of the report."""
    warp = DEFAULT_INTERVAL_S / args.interval
    n = args.nodes
    with Stack(workdir, 2 * n, interval_s=args.interval, keepalive_s=10) as st:
        ids = [f.node for f in st.fleet]
        group = {"write_behind": set(ids[:n]), "anchor": set(ids[n:])}
        st.start_broker()
        st.start_central("bench-central", top_toml="gap_grace_s = 0",
                         extra_toml="reconnect_min_s = 0.2\nreconnect_max_s = 1\n")
        procs = {"write_behind": st.start_sim("sim-wb", only=ids[:n], extra=FAST),
                 "anchor": st.start_sim("sim-anchor", only=ids[n:],
                                        extra=[*FAST, "--set", "outbox.write_behind=false"])}
        with Watcher(st.db_path) as w:
            wait_until(lambda: len(st.online()) == 2 * n, 60, "all nodes online", 0.5)
            time.sleep(args.warmup)  # first-sample flushes and start-up commits are done
            s0 = {g: snapshot(p) for g, p in procs.items()}
            t0_ms = int(time.time() * 1000)
            time.sleep(args.online)
            t1_ms = int(time.time() * 1000)
            s1 = {g: snapshot(p) for g, p in procs.items()}
            st.broker.stop()
            time.sleep(args.outage)
            s2 = {g: snapshot(p) for g, p in procs.items()}
            t2_ms = int(time.time() * 1000)
            st.broker.start()
            t_back = time.monotonic()
            everyone = group["write_behind"] | group["anchor"]
            complete = True
            try:
                wait_until(lambda: backlog_complete(st, everyone, t2_ms), args.drain_timeout,
                           "outage backlog complete", 0.5)
            except TimeoutError as exc:
                log.error("%s", exc)
                complete = False
            drain_s = time.monotonic() - t_back
            lags = {g: w.lags_ms(group[g], t0_ms + 2000, t1_ms - 2000) for g in GROUPS}
        for p in procs.values():
            p.stop()
        out: dict[str, Any] = {"nodes": n, "interval_s": args.interval, "warp": warp,
                               "complete": complete, "drain_s": round(drain_s, 1),
                               "outage_sim_s": round(args.outage * warp)}
        for g in GROUPS:
            on, off = per_node_hour(s0[g], s1[g], n, warp), per_node_hour(s1[g], s2[g], n, warp)
            out[g] = {"lag_p50_ms": pct(lags[g], 0.5), "lag_p99_ms": pct(lags[g], 0.99),
                      "lag_samples": len(lags[g]),
                      "online_commits_per_h": round(on["commits"], 1),
                      "online_kb_per_h": round(on["bytes"] / 1024, 1),
                      "outage_commits_per_h": round(off["commits"], 1),
                      "outage_kb_per_h": round(off["bytes"] / 1024, 1)}
        return out


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print JSON lines, the headline last."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="10 + 10 nodes, time-warped x40 (< 60 s)")
    p.add_argument("--nodes", type=int, help="nodes per side (default 50, quick 10)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    quick = args.quick
    args.nodes = args.nodes or (10 if quick else 50)
    args.interval = 0.25 if quick else DEFAULT_INTERVAL_S
    scale = args.interval / DEFAULT_INTERVAL_S
    args.warmup = max(3.0, 2 * OutboxSection().flush_every * args.interval)
    args.online, args.outage = 600 * scale, 600 * scale  # 10 minutes each (simulated)
    args.drain_timeout = 30.0 if quick else 300.0
    (ROOT / "run").mkdir(exist_ok=True)  # on disk: tmpfs would count no bytes written
    with tempfile.TemporaryDirectory(prefix="bench-freshness-", dir=ROOT / "run") as tmp:
        r = run(args, Path(tmp))
    print(json.dumps({"bench": "freshness", "metric": "run", **r}), flush=True)
    wb, an = r["write_behind"], r["anchor"]
    write_ratio = wb["online_commits_per_h"] / max(an["online_commits_per_h"], 1e-9)
    byte_ratio = wb["online_kb_per_h"] / max(an["online_kb_per_h"], 1e-9)
    print(json.dumps({"bench": "freshness", "metric": "card_writes_online_per_node_h",
                      "value": wb["online_commits_per_h"], "unit": "commits/h",
                      "kb_per_h": wb["online_kb_per_h"], "anchor": an["online_commits_per_h"],
                      "anchor_kb_per_h": an["online_kb_per_h"], "ratio": round(write_ratio, 3),
                      "bytes_ratio": round(byte_ratio, 3),
                      "outage_commits_per_h": wb["outage_commits_per_h"],
                      "anchor_outage_commits_per_h": an["outage_commits_per_h"],
                      "goal": f"<= {GOAL_WRITE_RATIO:g} x anchor",
                      "ok": write_ratio <= GOAL_WRITE_RATIO and byte_ratio <= GOAL_WRITE_RATIO}))
    ok = (wb["lag_p99_ms"] <= GOAL_LAG_P99_MS and write_ratio <= GOAL_WRITE_RATIO
          and byte_ratio <= GOAL_WRITE_RATIO and r["complete"])
    print(json.dumps({
        "bench": "freshness", "metric": "sample_to_commit_lag_p99", "value": wb["lag_p99_ms"],
        "unit": "ms", "p50": wb["lag_p50_ms"], "anchor": an["lag_p99_ms"],
        "anchor_p50": an["lag_p50_ms"],
        "ratio": round(wb["lag_p99_ms"] / max(an["lag_p99_ms"], 1), 3),
        "card_write_ratio": round(write_ratio, 3), "backlog_complete": r["complete"],
        "goal": f"lag p99 <= {GOAL_LAG_P99_MS:g} ms; card writes online <= "
                f"{GOAL_WRITE_RATIO:g} x anchor; outage backlog complete",
        "ok": ok}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
