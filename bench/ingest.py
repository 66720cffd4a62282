"""Ingest after a city-wide outage: N nodes replay their backlogs at once; samples committed/s.

A real mosquitto with per-node credentials, real kotanet-central processes (one, then two
sharing the ingest through ``$share``), on SQLite and on PostgreSQL (a private cluster, as the
tests start it). Every node sends its backlog as the agent does: ``tele`` batches of 50
samples encoded by protocol.codec, at most 8 batches unreceipted, a batch re-sent after the
agent's receipt timer (2 s while receipts are quick, following the receipt round trip when
they are not) with doubling back-off until central's receipt (``rx``, sent after commit)
covers it; a re-send carries a new ``ts_ms``, as the agent builds it again. The
clock runs from the first publish to the last receipt; then the database must hold every
(node, seq) exactly once. Collector RSS is read before the replay and at its peak.

Anchor, in the same run, right before each collector run (the machine is shared): a plain paho
subscriber (its own process) reading the same messages with ``json.loads`` (nodes then keep 8
batches un-PUBACKed instead of unreceipted). ``ratio`` = collector rate / that anchor.
Last stdout line: the headline JSON (SQLite, one process). ``--quick`` (100 nodes x 100
samples, SQLite only) finishes within 60 s on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import selectors
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "pg"))

from agent.sim.fleet import SimNode, build_fleet  # noqa: E402
from agent.sim.stack import Proc, Stack, wait_until  # noqa: E402
from agent.transport.forwarder import ReceiptTimer  # noqa: E402
from bench.replay import backlog_bodies, rss_mb  # noqa: E402
from protocol.codec import encode  # noqa: E402
from protocol.messages import Tele  # noqa: E402
from protocol.topics import Topics  # noqa: E402

log = logging.getLogger("bench.ingest")
GOAL_RATE = 20_000.0
GOAL_RATIO = 0.6
GOAL_SCALE = 1.6
WINDOW = 8
RESEND_S = 2.0  # the agent's retry_min_s and retry_max_s (defaults)
RESEND_MAX_S = 60.0
RUN_TIMEOUT_S = 600.0
_TS = re.compile(rb'"ts_ms":\d+')  # the batch's own ts_ms: the first one in the payload


def loadavg() -> str:
    """The 1/5/15-minute load averages (the machine is shared: figures are noisy)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def sample_pool(n: int) -> list[dict[str, Any]]:
    """n realistic sample bodies as the agent builds them (10 s apart, ending now)."""
    return backlog_bodies(build_fleet(1)[0], n)


def backlog(node: SimNode, pool: list[dict[str, Any]], batch: int) -> list[bytes]:
    """The node's backlog as tele payloads (protocol.codec.encode), seqs 0..len(pool)-1."""
    out = []
    for lo in range(0, len(pool), batch):
        recs = [{**b, "seq": lo + i} for i, b in enumerate(pool[lo:lo + batch])]
        out.append(encode(Tele.model_validate({
            "site": node.site.site, "node": node.node, "ts_ms": int(time.time() * 1000),
            "session": 1, "seq": lo, "historical": True, "samples": recs})))
    return out


@dataclass
class Node:
    """One simulated agent: its client, backlog and outbox window."""

    sim: SimNode
    client: mqtt.Client
    payloads: list[bytes]
    batch: int
    by_receipt: bool  # True: a batch is done on central's receipt; False: on PUBACK (anchor)
    next_idx: int = 0
    # idx -> (due, backoff, first sent, re-sent?)
    pending: dict[int, tuple[float, float, float, bool]] = field(default_factory=dict)
    mids: dict[int, int] = field(default_factory=dict)  # mid -> idx (anchor mode)
    done: int = 0
    resent: int = 0
    connected: bool = False
    subscribed: bool = False
    timer: ReceiptTimer = field(default_factory=lambda: ReceiptTimer(RESEND_S, RESEND_MAX_S))

    def publish(self, topic: str, idx: int, now: float, backoff: float, sent: float,
                again: bool = False) -> None:
        """Publish batch idx (QoS 1) and arm its re-send. A re-send is built again, as the
        agent's Forwarder does: the same records under a new ``ts_ms`` (other bytes)."""
        payload = self.payloads[idx]
        if again:
            payload = _TS.sub(b'"ts_ms":%d' % int(time.time() * 1000), payload, count=1)
        info = self.client.publish(topic, payload, qos=1)
        self.mids[info.mid] = idx
        self.pending[idx] = (now + backoff, backoff, sent, again)

    def pump(self, topic: str, now: float) -> None:
        """Fill the window; re-send overdue batches, doubling each one's delay, which starts
        from the agent's receipt timer (agent/transport/forwarder.py ReceiptTimer)."""
        for idx, (due, backoff, sent, _again) in list(self.pending.items()):
            if due <= now:
                self.resent += 1
                self.timer.timed_out(now)
                self.publish(topic, idx, now, min(RESEND_MAX_S, backoff * 2), sent, again=True)
        while len(self.pending) < WINDOW and self.next_idx < len(self.payloads):
            self.publish(topic, self.next_idx, now, self.timer.rto, now)
            self.next_idx += 1

    def finish(self, idx: int) -> None:
        """Batch idx is receipted (or PUBACKed for the anchor)."""
        got = self.pending.pop(idx, None)
        if got is not None:
            self.done += 1
            if not got[3]:  # Karn: only a batch sent once times the round trip
                self.timer.observe(time.monotonic() - got[2])

    @property
    def complete(self) -> bool:
        """Every batch of the backlog is done."""
        return self.done == len(self.payloads)


class Fleet:
    """N paho clients driven from one thread (paho's external-loop API over one selector)."""

    def __init__(self, st: Stack, creds: dict[str, str], payloads: dict[str, list[bytes]],
                 batch: int, by_receipt: bool, tag: str) -> None:
        self.topics = Topics()
        self.nodes: list[Node] = []
        for sim in st.fleet:
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{sim.node}-{tag}",
                            protocol=mqtt.MQTTv5)
            c.username_pw_set(sim.node, creds[sim.node])
            node = Node(sim, c, payloads[sim.node], batch, by_receipt)
            c.user_data_set(node)
            c.on_connect = self._on_connect
            c.on_subscribe = self._on_subscribe
            c.on_message = self._on_message
            c.on_publish = self._on_publish
            c.max_inflight_messages_set(WINDOW * 4)
            c.max_queued_messages_set(0)
            self.nodes.append(node)
        self.host, self.port = st.broker.host, st.broker.port
        self.sel = selectors.DefaultSelector()

    def _on_connect(self, c: mqtt.Client, node: Node, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            raise RuntimeError(f"{node.sim.node}: broker refused: {rc}")
        node.connected = True
        if node.by_receipt:
            c.subscribe(self.topics.node(node.sim.site.site, node.sim.node, "rx"), qos=1)
        else:
            node.subscribed = True

    def _on_subscribe(self, _c: mqtt.Client, node: Node, _m: Any, _r: Any, _p: Any) -> None:
        node.subscribed = True

    def _on_message(self, _c: mqtt.Client, node: Node, msg: mqtt.MQTTMessage) -> None:
        acked = json.loads(msg.payload)["acked"]
        for idx in list(node.pending):
            lo = idx * node.batch
            hi = min(lo + node.batch, len(node.payloads) * node.batch) - 1
            if any(a <= lo and hi <= b for a, b in acked):
                node.finish(idx)

    def _on_publish(self, _c: mqtt.Client, node: Node, mid: int, _r: Any, _p: Any) -> None:
        idx = node.mids.pop(mid, None)
        if idx is not None and not node.by_receipt:
            node.finish(idx)

    def _io(self, timeout: float) -> None:
        for node in self.nodes:
            sock = node.client.socket()
            if sock is None:
                continue
            want = selectors.EVENT_READ | (selectors.EVENT_WRITE
                                           if node.client.want_write() else 0)
            try:
                key = self.sel.get_key(sock)
                if key.events != want:
                    self.sel.modify(sock, want, node)
            except KeyError:
                self.sel.register(sock, want, node)
        for key, ev in self.sel.select(timeout):
            n: Node = key.data
            if ev & selectors.EVENT_READ:
                n.client.loop_read()
            if ev & selectors.EVENT_WRITE:
                n.client.loop_write()

    def connect(self, timeout_s: float = 60.0) -> None:
        """Connect every node and subscribe to its receipts."""
        deadline = time.monotonic() + timeout_s
        for i, node in enumerate(self.nodes):  # in steps: the broker's listen backlog is short
            node.client.connect_timeout = 30.0
            node.client.connect(self.host, self.port, keepalive=60)
            if i % 50 == 49:
                self._io(0.01)
        while not all(n.subscribed for n in self.nodes):
            if time.monotonic() > deadline:
                raise TimeoutError("fleet did not connect")
            self._io(0.05)

    def replay(self, timeout_s: float) -> float:
        """Every node sends its backlog at once; returns seconds until the last is done."""
        t0 = time.monotonic()
        last_misc = t0
        while not all(n.complete for n in self.nodes):
            now = time.monotonic()
            if now - t0 > timeout_s:
                left = sum(len(n.payloads) - n.done for n in self.nodes)
                raise TimeoutError(f"{left} batches not done after {timeout_s:.0f} s")
            for n in self.nodes:
                n.pump(self.topics.node(n.sim.site.site, n.sim.node, "tele"), now)
            self._io(0.02)
            if now - last_misc > 1.0:
                last_misc = now
                for n in self.nodes:
                    n.client.loop_misc()
        return time.monotonic() - t0

    def close(self) -> None:
        """Disconnect every node."""
        for node in self.nodes:
            with suppress(Exception):
                node.client.disconnect()
                node.client.loop_write()
            with suppress(KeyError, ValueError):
                sock = node.client.socket()
                if sock is not None:
                    self.sel.unregister(sock)
        self.sel.close()


# ------------------------------------------------------------------ the anchor subscriber
def anchor_subscriber(url: str, total: int) -> int:
    """Child process: subscribe to every tele, json.loads each, print the done time."""
    from urllib.parse import urlsplit
    u = urlsplit(url)
    got = 0
    done = threading.Event()
    first: list[float] = []

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        nonlocal got
        if not first:
            first.append(time.monotonic())
        got += len(json.loads(msg.payload)["samples"])
        if got >= total:
            done.set()

    def on_connect(c: mqtt.Client, _u: Any, _f: Any, _rc: Any, _p: Any) -> None:
        c.subscribe(Topics().node_filter("tele"), qos=1)

    def on_subscribe(*_a: Any) -> None:
        print(json.dumps({"ready": True}), flush=True)

    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="anchor", protocol=mqtt.MQTTv5)
    c.username_pw_set(u.username, u.password)
    c.on_message, c.on_connect, c.on_subscribe = on_message, on_connect, on_subscribe
    c.connect(u.hostname or "127.0.0.1", u.port or 1883)
    c.loop_start()
    ok = done.wait(RUN_TIMEOUT_S)
    print(json.dumps({"done": ok, "end": time.monotonic(), "samples": got,
                      "first": first[0] if first else None}), flush=True)
    c.disconnect()
    c.loop_stop()
    return 0


def run_anchor(st: Stack, creds: dict[str, str], payloads: dict[str, list[bytes]],
               batch: int, total: int) -> float:
    """Samples/s a json.loads subscriber reads of the same replay."""
    sub = subprocess.Popen([sys.executable, __file__, "--anchor-subscriber",
                            st.broker.url("central"), str(total)], stdout=subprocess.PIPE,
                           text=True)
    try:
        assert sub.stdout is not None
        if "ready" not in sub.stdout.readline():
            raise RuntimeError("anchor subscriber did not start")
        fleet = Fleet(st, creds, payloads, batch, by_receipt=False, tag="anchor")
        fleet.connect()
        t0 = time.monotonic()
        fleet.replay(RUN_TIMEOUT_S)
        res = json.loads(sub.stdout.readline())
        fleet.close()
        if not res["done"]:
            raise RuntimeError(f"anchor subscriber read {res['samples']} of {total}")
        return total / (res["end"] - t0)
    finally:
        try:
            sub.wait(timeout=30)
        except subprocess.TimeoutExpired:
            sub.kill()
            sub.wait(timeout=10)


# ------------------------------------------------------------------ one collector run
def count_rows(backend: str, db: str) -> list[tuple[str, int, int, int, int]]:
    """(node, rows, distinct seqs, min seq, max seq) per node in the samples table."""
    sql = ("SELECT node, COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM samples "
           "GROUP BY node ORDER BY node")
    if backend == "sqlite":
        with closing(sqlite3.connect(db, timeout=30)) as c:
            return [tuple(r) for r in c.execute(sql)]  # type: ignore[misc]
    import psycopg
    with psycopg.connect(db) as pc:
        return [tuple(r) for r in pc.execute(sql).fetchall()]  # type: ignore[misc]


def wait_ready(st: Stack, instances: list[str]) -> None:
    """Until every collector published its retained online state (it has subscribed)."""
    seen: set[str] = set()
    topics = Topics()

    def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        body = json.loads(msg.payload)
        if body.get("online"):
            seen.add(body.get("instance"))

    from urllib.parse import urlsplit
    u = urlsplit(st.broker.url("central"))
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-ready", protocol=mqtt.MQTTv5)
    c.username_pw_set(u.username, u.password)
    c.on_message = on_message
    c.on_connect = lambda cl, *_a: cl.subscribe(topics.all_central_states(), qos=1)
    c.connect(st.broker.host, st.broker.port)
    c.loop_start()
    try:
        wait_until(lambda: set(instances) <= seen, 30, f"collectors {instances} online")
    finally:
        c.disconnect()
        c.loop_stop()


def run_collectors(st: Stack, creds: dict[str, str], payloads: dict[str, list[bytes]],
                   batch: int, samples: int, backend: str, db_url: str, count_db: str,
                   procs: int, tag: str) -> dict[str, Any]:
    """Start `procs` central instances on db_url, replay, check the rows; the figures."""
    env_db = {"KOTANET_DB": db_url}
    if backend == "postgres":
        env_db["KOTANET_STATE_DB"] = f"sqlite:///{st.dir / f'state-{tag}.db'}"
    orig = st.central_env
    st.central_env = lambda http: {**orig(http), **env_db}  # type: ignore[method-assign]
    centrals: list[Proc] = []
    instances = [f"{tag}-{i + 1}" for i in range(procs)]
    try:
        for inst in instances:
            centrals.append(st.start_central(inst, extra_toml="reconnect_min_s = 0.2\n"))
        wait_ready(st, instances)
        time.sleep(1.0)
        before = [rss_mb(p.pid) for p in centrals]
        peak = list(before)
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(0.2):
                for i, p in enumerate(centrals):
                    peak[i] = max(peak[i], rss_mb(p.pid))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        fleet = Fleet(st, creds, payloads, batch, by_receipt=True, tag=tag)
        fleet.connect()
        load = loadavg()
        secs = fleet.replay(RUN_TIMEOUT_S)
        stop.set()
        watcher.join()
        resent = sum(n.resent for n in fleet.nodes)
        sent = sum(len(n.payloads) for n in fleet.nodes)
        fleet.close()
        rows = count_rows(backend, count_db)
    finally:
        st.central_env = orig  # type: ignore[method-assign]
        for p in centrals:
            p.stop()
            st.procs.remove(p)
    total = samples * len(st.fleet)
    stored = sum(r[1] for r in rows)
    distinct = sum(r[2] for r in rows)
    complete = sum(1 for r in rows if r[1] == samples and r[2] == samples and r[3] == 0
                   and r[4] == samples - 1)
    return {"backend": backend, "procs": procs, "seconds": round(secs, 2),
            "rate": round(total / secs), "samples": total, "stored": stored,
            "lost": total - distinct, "duplicated": stored - distinct,
            "nodes_complete": complete, "batches": sent, "resent": resent,
            "rss_before_mb": [round(x, 1) for x in before],
            "rss_peak_mb": [round(x, 1) for x in peak], "loadavg": load}


# ------------------------------------------------------------------ in-process stages
def stage_rates(fleet: list[SimNode], payloads: dict[str, list[bytes]],
                workdir: Path) -> dict[str, Any]:
    """Samples/s of each collector stage alone, in this process, side by side with json.loads
    of the same payloads (robust to a busy machine): decode (protocol.codec through the
    collector's Ingest) and write (SQLite Storage.write of the decoded batches)."""
    from central.collector.ingest import Ingest
    from central.collector.isolate import accept_one, write_isolated
    from central.collector.stats import Stats
    from central.config import CentralConfig
    from central.storage.sqlite import SqliteStorage
    topics = Topics()
    msgs = [(topics.node(n.site.site, n.node, "tele"), p) for n in fleet[:50]
            for p in payloads[n.node]]
    stats = Stats()
    ingest = Ingest(CentralConfig(), stats)
    t0 = time.perf_counter()
    for _, p in msgs:
        json.loads(p)
    t1 = time.perf_counter()
    incs = [inc for tp, p in msgs if (inc := accept_one(ingest, tp, p, 1)) is not None]
    t2 = time.perf_counter()
    total = sum(len(inc.msg.samples) for inc in incs if isinstance(inc.msg, Tele))
    store = SqliteStorage(workdir / "stages.db")
    for i in range(0, len(incs), 40):  # about one writer batch (2 MB)
        write_isolated(store, incs[i:i + 40], stats)
    t3 = time.perf_counter()
    store.close()
    loads, dec, wr = total / (t1 - t0), total / (t2 - t1), total / (t3 - t2)
    return {"json_loads": round(loads), "decode": round(dec), "write_sqlite": round(wr),
            "decode_ratio": round(dec / loads, 3), "write_ratio": round(wr / loads, 3),
            "samples": total, "loadavg": loadavg()}


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> int:
    """Run the bench and print JSON lines, the headline last."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true",
                   help="100 nodes x 100 samples, SQLite only (< 60 s on a quiet machine)")
    p.add_argument("--nodes", type=int, default=None)
    p.add_argument("--samples", type=int, default=None, help="backlog samples per node")
    p.add_argument("--batch", type=int, default=50, help="samples per tele")
    p.add_argument("--backends", default=None, help="default sqlite,postgres (quick: sqlite)")
    p.add_argument("--procs", default="1,2", help="collector process counts to run")
    p.add_argument("--anchor-subscriber", nargs=2, metavar=("URL", "TOTAL"),
                   help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.anchor_subscriber:
        return anchor_subscriber(args.anchor_subscriber[0], int(args.anchor_subscriber[1]))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    nodes = args.nodes or (100 if args.quick else 500)
    samples = args.samples or (100 if args.quick else 200)
    backends = [b for b in (args.backends or ("sqlite" if args.quick else "sqlite,postgres"))
                .split(",") if b]
    proc_counts = [int(x) for x in args.procs.split(",") if x]
    total = nodes * samples
    pool = sample_pool(samples)
    results: list[dict[str, Any]] = []
    cluster = None
    with tempfile.TemporaryDirectory(prefix="kotanet-ingest-") as tmp, \
            Stack(tmp, nodes, interval_s=3600, keepalive_s=30) as st:
        try:
            st.start_broker()
            creds = json.loads(st.creds_path.read_text())
            payloads = {n.node: backlog(n, pool, args.batch) for n in st.fleet}
            print(json.dumps({"bench": "ingest", "metric": "stages_in_process",
                              **stage_rates(st.fleet, payloads, st.dir)}),
                  flush=True)
            if "postgres" in backends:
                from pg_cluster import PgCluster
                cluster = PgCluster()
                cluster.start()
            for backend in backends:
                for procs in proc_counts:
                    tag = f"{backend[:2]}{procs}"
                    if backend == "sqlite":
                        path = st.dir / f"central-{tag}.db"
                        db_url, count_db = f"sqlite:///{path}", str(path)
                    else:
                        assert cluster is not None
                        db_url = count_db = cluster.new_database()
                    # the anchor right before each run: the machine is shared, load varies
                    anchor = run_anchor(st, creds, payloads, args.batch, total)
                    r = run_collectors(st, creds, payloads, args.batch, samples, backend,
                                       db_url, count_db, procs, tag)
                    r["anchor"] = round(anchor)
                    r["ratio"] = round(r["rate"] / anchor, 3)
                    results.append(r)
                    print(json.dumps({"bench": "ingest", "metric": "run", **r}), flush=True)
        finally:
            if cluster is not None:
                cluster.stop()
    by = {(r["backend"], r["procs"]): r for r in results}
    clean = all(r["lost"] == 0 and r["duplicated"] == 0 for r in results)
    for backend in backends:
        one, two = by.get((backend, 1)), by.get((backend, 2))
        if one and two:
            print(json.dumps({"bench": "ingest", "metric": f"scale_{backend}",
                              "value": round(two["rate"] / one["rate"], 2), "unit": "x",
                              "goal": f">= {GOAL_SCALE:g}x",
                              "ok": two["rate"] / one["rate"] >= GOAL_SCALE}))
    peak = max((max(r["rss_peak_mb"]) for r in results), default=0.0)
    head = by.get(("sqlite", 1)) or results[0]
    print(json.dumps({
        "bench": "ingest", "metric": "samples_committed_per_s_one_process",
        "value": head["rate"], "unit": "samples/s",
        "goal": f">= {GOAL_RATE:g}/s per process on SQLite and >= {GOAL_RATIO:g}x anchor; "
                f"2 processes >= {GOAL_SCALE:g}x; 0 lost, 0 duplicated",
        "anchor": head["anchor"], "ratio": head["ratio"], "backend": head["backend"],
        "peak_rss_mb": round(peak, 1), "loadavg": loadavg(),
        "ok": head["rate"] >= GOAL_RATE and head["ratio"] >= GOAL_RATIO and clean}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
