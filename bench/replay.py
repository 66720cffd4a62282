"""Backlog replay: drain rate of a day of samples (8,640) after reconnect, and the agent's RSS.

The backlog is written into a real agent outbox, the real agent (kotanet-agent) starts while
the broker is down, then the broker comes up and the clock runs until central's database
holds every sample. Anchor, in the same run: the same 8,640 samples published raw by a plain
paho client (QoS 1 tele batches of the same size, no outbox, no receipts) until stored.
Last stdout line: the headline JSON. ``--quick`` finishes within 60 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import parse_config
from agent.probes.base import ProbeResult
from agent.probes.sample import build_sample
from agent.sim.fleet import SimNode, build_fleet
from agent.sim.model import NodeModel
from agent.sim.stack import Proc, Stack, wait_until
from agent.transport.outbox import Outbox
from protocol.codec import encode
from protocol.messages import Tele
from protocol.topics import Topics

log = logging.getLogger(__name__)
BACKLOG = 8_640
GOAL_RATE = 2_000.0
GOAL_RSS_MB = 40.0
FLAT_MB = 2.0


def backlog_bodies(node: SimNode, n: int) -> list[dict[str, object]]:
    """n realistic sample bodies (as the agent stores them), 10 s apart, ending now."""
    model = NodeModel(node, seed=7, interval_s=0.0)
    now_ms = int(time.time() * 1000)
    out = []
    for i in range(n):
        m = model.snapshot()
        res = [ProbeResult("link", "ok", {"uplinks": m.uplinks}),
               ProbeResult("users", "ok", {"users": m.users}),
               ProbeResult("system", "ok", {"system": m.system})]
        sample, _ = build_sample(res, now_ms - (n - i) * 10_000)
        out.append(sample.model_dump(mode="json", exclude={"seq"}, exclude_none=True))
    return out


def agent_toml(st: Stack, node: SimNode, password: str) -> Path:
    """A kotanet-agent config for one node of the stack (sampling effectively off)."""
    path = st.dir / f"{node.node}.toml"
    path.write_text(
        f'[node]\nid = "{node.node}"\nsite = "{node.site.site}"\nrole = "{node.role}"\n'
        f'[mqtt]\nurl = "mqtt://127.0.0.1:{st.broker.port}"\npassword = "{password}"\n'
        "keepalive_s = 10\nreconnect_min_s = 0.2\nreconnect_max_s = 0.5\n"
        f'[agent]\nstate_dir = "{st.dir / "nodes" / node.node}"\nsample_interval_s = 3600\n')
    path.chmod(0o600)
    return path


def fill_outbox(st: Stack, node: SimNode, cfg_path: Path, bodies: list[dict[str, object]]) -> None:
    """Write the backlog into the node's real outbox file."""
    from agent.config import load_config
    from agent.runtime import OUTBOX_FILE

    cfg = load_config(cfg_path)
    bulk = cfg.outbox.model_copy(update={"flush_every": len(bodies) + 1})  # one transaction
    ob = Outbox(Path(cfg.agent.state_dir) / OUTBOX_FILE, bulk)
    for body in bodies:
        ob.add("sample", int(body["ts_ms"]), body)  # type: ignore[call-overload]
    ob.close()


def count(st: Stack, node: str) -> int:
    """Samples of node in central's database."""
    with closing(sqlite3.connect(st.db_path, timeout=10)) as db:
        return int(db.execute("SELECT COUNT(*) FROM samples WHERE node = ?", (node,)).fetchone()[0])


def online(st: Stack, node: str) -> bool:
    """True once central has seen the node's online state (its reconnect)."""
    with closing(sqlite3.connect(st.db_path, timeout=10)) as db:
        row = db.execute("SELECT online FROM nodes WHERE node = ?", (node,)).fetchone()
        return bool(row and row[0])


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB: exact Rss of smaps_rollup (VmRSS as fallback).

    /proc/PID/status VmRSS comes from the kernel's RSS counters, which proc(5) calls
    inaccurate for scalability; smaps_rollup walks the page tables (same definition: anon +
    file + shmem pages), so repeated readings of an unchanged process agree.
    """
    for name, key in (("smaps_rollup", "Rss:"), ("status", "VmRSS:")):
        try:
            lines = Path(f"/proc/{pid}/{name}").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return 0.0


def settled_rss(pid: int, timeout_s: float = 6.0) -> float:
    """RSS once it stops changing (3 readings 0.2 s apart within 0.1 MB), bounded in time."""
    readings = [rss_mb(pid)]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(0.2)
        readings.append(rss_mb(pid))
        last = readings[-3:]
        if len(last) == 3 and max(last) - min(last) < 0.1 and last[-1] > 0:
            break
    return readings[-1]


def drain(st: Stack, node: SimNode, bodies: list[dict[str, object]]) -> dict[str, float]:
    """Agent path: backlog in the outbox, broker down, agent up, broker up: time to stored."""
    creds = json.loads(st.creds_path.read_text())
    cfg = agent_toml(st, node, creds[node.node])
    fill_outbox(st, node, cfg, bodies)
    st.broker.stop()
    agent = Proc(f"agent-{node.node}", [str(Path(sys.executable).parent / "kotanet-agent"), "--config",
                           str(cfg), "--log-level", "warning"], st.dir / "logs" / "agent.log").start()
    st.procs.append(agent)
    before = settled_rss(agent.pid)  # booted, backlog on disk, no broker
    during: list[float] = []
    st.broker.start()
    t_up = time.monotonic()
    t_conn: float | None = None
    while count(st, node.node) < len(bodies):
        if time.monotonic() - t_up > 60:
            raise TimeoutError(f"backlog not drained in 60 s:\n{agent.tail()}")
        if t_conn is None and online(st, node.node):
            t_conn = time.monotonic()
        during.append(rss_mb(agent.pid))
        time.sleep(0.02)
    t_end = time.monotonic()
    secs = t_end - (t_conn or t_up)
    time.sleep(0.5)
    after = rss_mb(agent.pid)
    agent.stop()
    return {"seconds": secs, "rate": len(bodies) / secs,
            "rate_from_broker_up": len(bodies) / (t_end - t_up), "rss_before_mb": before,
            "rss_during_max_mb": max(during, default=before), "rss_after_mb": after}


def raw_publish(st: Stack, node: SimNode, bodies: list[dict[str, object]], batch: int) -> float:
    """Anchor: the same samples as QoS 1 tele batches from a plain paho client, until stored."""
    creds = json.loads(st.creds_path.read_text())
    topics = Topics()
    acked = threading.Semaphore(0)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"raw-{node.node}", protocol=mqtt.MQTTv5)
    c.username_pw_set(node.node, creds[node.node])
    c.on_publish = lambda *_a: acked.release()
    c.max_inflight_messages_set(20)
    payloads = []
    for lo in range(0, len(bodies), batch):
        recs = [{**b, "seq": lo + i} for i, b in enumerate(bodies[lo:lo + batch])]
        payloads.append(encode(Tele.model_validate({
            "site": node.site.site, "node": node.node, "ts_ms": int(time.time() * 1000),
            "session": 1, "seq": lo, "historical": True, "samples": recs})))
    c.connect(st.broker.host, st.broker.port)
    c.loop_start()
    try:
        t0 = time.monotonic()
        for p in payloads:
            c.publish(topics.node(node.site.site, node.node, "tele"), p, qos=1)
        for _ in payloads:
            if not acked.acquire(timeout=30):
                raise TimeoutError("raw publish: no PUBACK in 30 s")
        wait_until(lambda: count(st, node.node) >= len(bodies), 60, "raw backlog stored", 0.05)
        return len(bodies) / (time.monotonic() - t0)
    finally:
        c.disconnect()
        c.loop_stop()


def one_run(st: Stack, run: int, bodies: list[dict[str, object]]) -> dict[str, float]:
    """Agent drain and raw anchor, side by side, on a fresh pair of nodes of the stack."""
    agent_node, raw_node = st.fleet[2 * run], st.fleet[2 * run + 1]
    batch = parse_config({"node": {"id": "x", "site": "y"}}).outbox.batch_max_records
    anchor = raw_publish(st, raw_node, bodies, batch)
    res = drain(st, agent_node, bodies)
    return {**res, "anchor_rate": anchor}


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print JSON lines, the headline last."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="3 runs (within 60 s) instead of 5")
    p.add_argument("--runs", type=int, help="number of side-by-side runs (median reported)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    runs = args.runs or (3 if args.quick else 5)
    results = []
    bodies = backlog_bodies(build_fleet(1)[0], BACKLOG)
    with tempfile.TemporaryDirectory(prefix="kotanet-replay-") as tmp, \
            Stack(tmp, 2 * runs, interval_s=3600, keepalive_s=10) as st:
        st.start_broker()
        st.start_central("bench-central", extra_toml="reconnect_min_s = 0.2\n")
        for i in range(runs):
            r = one_run(st, i, bodies)
            results.append(r)
            print(json.dumps({"bench": "replay", "metric": "run", "run": i + 1,
                              **{k: round(v, 2) for k, v in r.items()}}), flush=True)
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    rss_max = max(r["rss_during_max_mb"] for r in results)
    growth = max(max(r["rss_during_max_mb"], r["rss_after_mb"]) - r["rss_before_mb"]
                 for r in results)
    flat = growth <= FLAT_MB
    print(json.dumps({"bench": "replay", "metric": "agent_rss", "value": round(rss_max, 1),
                      "unit": "MB", "before": round(med["rss_before_mb"], 1),
                      "during_max": round(med["rss_during_max_mb"], 1),
                      "after": round(med["rss_after_mb"], 1), "growth_max": round(growth, 1),
                      "goal": f"flat (growth <= {FLAT_MB:g} MB), <= {GOAL_RSS_MB:g} MB",
                      "ok": flat and rss_max <= GOAL_RSS_MB}))
    rate, anchor = med["rate"], med["anchor_rate"]
    print(json.dumps({
        "bench": "replay", "metric": "backlog_drain_rate", "value": round(rate),
        "unit": "samples/s", "goal": f">= {GOAL_RATE:g} samples/s, RSS flat <= {GOAL_RSS_MB:g} MB",
        "anchor": round(anchor), "ratio": round(rate / anchor, 3),
        "ok": rate >= GOAL_RATE and flat and rss_max <= GOAL_RSS_MB}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
