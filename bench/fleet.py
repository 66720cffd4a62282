"""Fleet scale: N simulated nodes (default 2,000), each its own MQTT 5 connection, against one central.

What runs (all real, on loopback): a mosquitto made by ``agent.sim.stack.Stack`` with one
user per node and the per-node ACL provisioning generates (a node may publish only its own
uplink topics at its own site); one ``kotanet-central`` process (SQLite by default,
``--backend postgres`` for a private PostgreSQL cluster, tests/pg/pg_cluster.py); and the
simulated fleet in ``--sim-procs`` child processes of this script. Each child drives its
share of the nodes from one selector loop with paho's external-loop API (``on_socket_*``
callbacks, ``loop_read``/``loop_write``/``loop_misc``): 2,000 real ``Agent`` objects with
their threads do not fit a 2-core machine, but every byte on the wire is the agent's:

- the MQTT session as ``agent.transport.session`` opens it (client id ``kotanet-<node>``, the
  retained offline ``state`` as Will, subscriptions to its ``cmd``, ``rx`` and the central
  states), then the retained online ``state`` and the ``birth`` of
  ``agent.transport.presence``;
- one sample per ``--interval`` per node from the simulator's ``NodeModel`` probes through the
  agent's ``ProbeRunner`` and ``build_sample``, sent at once (write-behind, live) as a ``tele``
  built like ``agent.transport.forwarder`` builds it (record seqs, events of the round, the
  agent's window of 8, re-sent ``historical`` with its jittered doubling back-off until
  central's ``rx`` receipt covers it; sending waits until a central instance is online);
- commands go through the agent's own ``CommandController`` (signature check with the key
  ring from ``command.pub``, the command gate, params contract, the real
  ``ShapingController`` over the simulator's ``FakeTc``), which publishes the real
  ``accepted`` and ``applied`` acks (and the ``throttle`` event, in the next ``tele``).

How each figure is measured, over the steady window of ``--duration`` seconds that starts
once every node is connected and shown online by central's API:

- **ingest lag** (goal p99 <= 1 s): per sample, from the moment the node took it (its
  ``ts_ms``) to the moment the node got central's ``rx`` receipt covering it. Central
  publishes a receipt only after the database commit, so this is "sample -> committed",
  plus the one broker hop back (see the anchor). The part up to central's receipt of the
  message (``samples.received_ms - ts_ms`` in central's database) is reported beside it.
  Samples taken in the window and never receipted are counted (and fail the goal).
- **command round trip** (goal p99 <= 1 s): ``--commands`` ``set_throttle`` commands to
  random nodes, spread evenly over the window, each timed from the ``POST
  /api/v1/nodes/{node}/commands`` to the first ``GET /api/v1/commands/{id}`` (polled every
  10 ms) that shows the ``applied`` stage stored. The node's receipt of the command (its own
  clock, same host) splits it into "issue -> node" and "node -> applied stored".
- **/api/v1/nodes** (goal p99 <= 100 ms): a GET with the admin token every ``--api-period``
  seconds; anchor: ``/healthz`` timed right after each (the HTTP stack alone).
- **NOC fleet page**: a plain HTTP GET of ``/noc/`` with a logged-in viewer session (the
  page carries the whole fleet snapshot) every ``--noc-period`` seconds; the goal is the
  NOC's render goal of bench/dashboard.py (< 1 s).
- **central CPU** (% of one core) and RSS: psutil on the central process over the window
  (mosquitto's and the simulators' CPU beside it), and central CPU per committed sample.
- **anchor for the lag and the command round trip**: in every simulator child, on the same
  selector loop as its nodes, a QoS 1 publish to a topic no central subscribes to, timed
  until the same client receives it (every 0.5 s): what the broker and the simulator's own
  loop cost for one hop under the same load.

Output: JSON lines on stdout, one figure per line, each with its goal and ``ok`` where it has
one; the last line is the headline (ingest lag p99; ``ok`` only if lag, command round trip
and API goals are all met). Progress goes to stderr. ``--quick``: 200 nodes, a 40 s window.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import os
import queue
import random
import re
import resource
import secrets
import selectors
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from contextlib import closing, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "pg"))

from agent.clock import clock_synced, monotonic, wall_ms  # noqa: E402
from agent.config import AgentConfig  # noqa: E402
from agent.controllers.commands import CommandController  # noqa: E402
from agent.controllers.shaping import ShapingController, current_shaping, lease_tick  # noqa: E402
from agent.probes.base import ProbeRunner  # noqa: E402
from agent.probes.sample import build_sample  # noqa: E402
from agent.sim.cli import node_config  # noqa: E402
from agent.sim.faketc import FakeTc  # noqa: E402
from agent.sim.fleet import SimNode, build_fleet, load_credentials  # noqa: E402
from agent.sim.model import NodeModel, sim_probes  # noqa: E402
from agent.sim.stack import Stack, wait_until  # noqa: E402
from agent.transport.presence import build_birth, node_state  # noqa: E402
from bench.freshness import pct  # noqa: E402
from bench.ingest import loadavg  # noqa: E402
from bench.replay import rss_mb  # noqa: E402
from protocol.codec import CodecError, decode, encode  # noqa: E402
from protocol.messages import (  # noqa: E402
    CentralState,
    Command,
    CommandAck,
    DeliveryReceipt,
    Event,
    Tele,
)
from protocol.topics import Topics  # noqa: E402

GOAL_LAG_MS = 1000.0
GOAL_CMD_MS = 1000.0
GOAL_API_MS = 100.0
GOAL_NOC_MS = 1000.0  # the NOC's page goal (bench/dashboard.py renders it in Chromium)
CMD_POLL_S = 0.01
ANCHOR_PERIOD_S = 0.5
CONNECT_INFLIGHT = 64  # CONNECTs awaiting their CONNACK (mosquitto checks a PBKDF2 hash each)
MISC_PERIOD_S = 2.0  # paho keepalive bookkeeping for every client, in slices:
MISC_SLICES = 20  # one slice of the nodes every MISC_PERIOD_S / MISC_SLICES (no 2,000-call burst)
DRAIN_S = 15.0  # after the window: how long the nodes wait for the last receipts
NOC_USER, NOC_PASSWORD = "fleet-bench", secrets.token_urlsafe(16)

EPILOG = """\
examples:
  python bench/fleet.py                      # 2,000 nodes, 120 s window (about 4-5 minutes)
  python bench/fleet.py --quick              # 200 nodes, 40 s window (about 1.5 minutes)
  python bench/fleet.py --nodes 5000 --sim-procs 2 --duration 300
  python bench/fleet.py --backend postgres   # central's tables on a private PostgreSQL

Each node is its own MQTT user (password from Stack, $7$ PBKDF2 hash): provisioning 2,000
users takes about 20 s, and mosquitto checks one hash per CONNECT (about 10 s for 2,000).
The machine's file-descriptor limit is raised for the broker and the simulators (one socket
per node). Figures on a shared machine are noisy: every line carries the load average.
"""


def progress(msg: str) -> None:
    """A progress line on stderr (long phases: provisioning, connecting, the window)."""
    print(f"[fleet {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def raise_nofile(want: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``want`` (children inherit it: the
    broker and the simulators need one descriptor per node); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = want if hard == resource.RLIM_INFINITY else min(hard, want)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return int(soft)


def p(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100, nearest rank) rounded to 0.1; None without values."""
    return round(pct(values, q / 100), 1) if values else None


# =================================================================== the simulated fleet (child)
@dataclass
class Batch:
    """One unreceipted tele: the records of one sampling round (or of queued events)."""

    lo: int
    hi: int
    seqs: set[int]
    records: list[tuple[str, int, dict[str, Any]]]  # (kind, seq, body without seq)
    tries: int = 0
    due: float = 0.0  # monotonic: when to (re-)send; 0 = not sent yet


class SimAgent:
    """One node: the agent's MQTT session, forwarder and command path on a shared loop."""

    def __init__(self, sim: SimNode, cfg: AgentConfig, loop: SimLoop, state_dir: Path,
                 seed: int) -> None:
        self.sim, self.cfg, self.loop = sim, cfg, loop
        self.node, self.site = cfg.node.id, cfg.node.site
        self.topics = Topics(cfg.mqtt.topic_prefix)
        self.model = NodeModel(sim, seed=seed, interval_s=cfg.agent.sample_interval_s)
        kernel = FakeTc()  # the real controller shapes a fake kernel, as kotanet-sim does
        self.shaping = ShapingController(cfg.shaping, kernel)
        self.model.limits = kernel.limits_bps
        self.failover = None  # no failover controller: failover commands are "unsupported"
        self.runner = ProbeRunner(sim_probes(self.model), cfg.agent.probe_timeout_s, workers=0)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.commands = CommandController(self.site, self.node, state_dir, self, self,
                                          monotonic, trust=cfg.commands)
        self.session = 0
        self.next_seq = 0
        self.inflight: dict[int, Batch] = {}
        self.events: list[Event] = []
        self.taken: dict[int, float] = {}  # sample seq -> monotonic time it was taken
        self.centrals: set[str] = set()
        self.connected = self.subscribed = False
        self.win: tuple[int, int, int] | None = None  # (first, last seq, count) of window samples
        self.rng = random.Random(f"{seed}:{self.node}:fwd")
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"kotanet-{self.node}",
                        protocol=mqtt.MQTTv5)
        assert cfg.mqtt.password is not None
        c.username_pw_set(cfg.mqtt.username or self.node, cfg.mqtt.password)
        c.max_inflight_messages_set(cfg.outbox.window + 10)
        c.suppress_exceptions = False
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        loop.attach(c)
        self.client = c

    # ------------------------------------------------------------ session (as session.py)
    def connect(self) -> None:
        """A new session: bump the counter, set the Will, open the TCP connection."""
        self.session += 1
        will = encode(node_state(self.cfg, self.session, online=False))
        self.client.will_set(self.topic("state"), will, qos=1, retain=True)
        self.client.connect(self.loop.host, self.loop.port, keepalive=self.cfg.mqtt.keepalive_s,
                            clean_start=True)

    def topic(self, kind: Any) -> str:
        """This node's topic of one kind."""
        return self.topics.node(self.site, self.node, kind)

    def _on_connect(self, c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.loop.connacks += 1
        if rc.is_failure:
            self.loop.stats["refused"] += 1
            return
        sock = c.socket()
        if sock is not None:
            with suppress(OSError, AttributeError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr,attr-defined]
        c.subscribe([(self.topic("cmd"), 1), (self.topic("rx"), 1),
                     (self.topics.all_central_states(), 1)])
        self.connected = True
        self.centrals.clear()  # rebuilt from the retained central states that follow
        for b in self.inflight.values():  # paho does not keep QoS 1 copies across sessions
            b.due = min(b.due, monotonic()) if b.due else 0.0
        self.publish("state", node_state(self.cfg, self.session, online=True), retain=True)
        self.publish_birth()

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _m: Any, rcs: Any, _p: Any) -> None:
        if any(r.is_failure for r in rcs):
            self.loop.stats["sub_refused"] += 1
        if not self.subscribed:
            self.subscribed = True
            self.loop.subscribed += 1

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if self.connected and not self.loop.closing:
            self.loop.stats["disconnects"] += 1
            self.loop.reconnect_at.append((monotonic() + 1.0, self))
        self.connected = False

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        now = monotonic()
        payload = bytes(msg.payload)
        try:
            _, model = decode(self.topics, msg.topic, payload)
        except CodecError:
            self.loop.stats["decode_errors"] += 1
            return
        if isinstance(model, CentralState):
            was = bool(self.centrals)
            (self.centrals.add if model.online else self.centrals.discard)(model.instance)
            if self.centrals and not was:
                self.pump(now, resume=True)
        elif isinstance(model, DeliveryReceipt):
            self.on_receipt(model, now)
        elif isinstance(model, Command):
            self.loop.cmd_seen(model.cmd_id, self.node)
            expiry = getattr(msg.properties, "MessageExpiryInterval", None) if msg.properties \
                else None
            self.commands.on_command(model, now, float(expiry) if expiry is not None else None,
                                     clock_synced=self.loop.synced, raw=payload)
            self.pump(now)

    def publish(self, kind: Any, msg: Any, *, retain: bool = False) -> None:
        """QoS 1 on this node's topic (codec-encoded, as MqttSession.publish)."""
        self.client.publish(self.topic(kind), encode(msg), qos=1, retain=retain)

    # ------------------------------------------------------------ CommandLink / CommandHost
    def send_ack(self, cmd: Command, ack: CommandAck) -> None:
        """Publish one ack of a command."""
        self.publish("ack", ack)
        self.loop.cmd_stage(cmd.cmd_id, ack.stage, ack.code)

    def publish_birth(self) -> None:
        """The session's birth with the gate's and the outbox's state (presence.build_birth)."""
        gate = self.commands.gate.state
        lo = min(self.inflight) if self.inflight else None
        hi = max(b.hi for b in self.inflight.values()) if self.inflight else None
        self.publish("birth", build_birth(
            self.cfg, self.session, throttle_version=self.shaping.version, outbox=(lo, hi),
            simulated=True, cmd_epoch=gate.highest_epoch, applied_version=gate.applied_version,
            cmd_key_ids=self.commands.trust.ring.ids(), epoch_proof=self.commands.trust.proof))

    def resync_now(self) -> None:
        """Birth again and re-send everything unreceipted."""
        self.publish_birth()
        for b in self.inflight.values():
            b.due = monotonic() if b.due else 0.0

    def add_event(self, kind: str, severity: str, message: str, data: dict[str, Any]) -> None:
        """Queue an event for the next tele (the agent's outbox)."""
        self.events.append(Event.model_validate({"ts_ms": wall_ms(), "kind": kind,
                                                 "severity": severity, "message": message,
                                                 "data": data}))

    # ------------------------------------------------------------ sampling and forwarding
    def sample(self, now: float) -> None:
        """One sampling round (the agent's _sample_once): sample + probe events, one batch."""
        results = self.runner.run_all(monotonic)
        smp, events = build_sample(results, wall_ms(), current_shaping(self.shaping))
        recs: list[tuple[str, int, dict[str, Any]]] = []
        seq = self.next_seq
        recs.append(("sample", seq, smp.model_dump(mode="json", exclude={"seq"},
                                                   exclude_none=True)))
        self.taken[seq] = now
        if self.loop.in_window(now):
            first, _, n = self.win or (seq, seq, 0)
            self.win = (first, seq, n + 1)
        for ev in [*events, *self.events]:
            seq += 1
            recs.append(("event", seq, ev.model_dump(mode="json", exclude={"seq"})))
        self.events.clear()
        self._add(recs)
        self.loop.stats["samples"] += 1
        self.pump(now)

    def _add(self, recs: list[tuple[str, int, dict[str, Any]]]) -> None:
        lo, hi = recs[0][1], recs[-1][1]
        self.inflight[lo] = Batch(lo, hi, {s for _, s, _ in recs}, recs)
        self.next_seq = hi + 1
        self.loop.busy.add(self)

    def _backoff(self, tries: int) -> float:
        ob = self.cfg.outbox  # Forwarder._backoff
        return min(ob.retry_max_s, ob.retry_min_s * 2 ** min(tries, 30)) * (
            0.75 + 0.5 * self.rng.random())

    def pump(self, now: float, resume: bool = False) -> None:
        """Send queued events, new batches (window) and due re-sends, while central is online."""
        if self.events:
            self._add([("event", self.next_seq + i, ev.model_dump(mode="json", exclude={"seq"}))
                       for i, ev in enumerate(self.events)])
            self.events.clear()
        if not (self.connected and self.centrals):
            return
        sent = sum(1 for b in self.inflight.values() if b.due)
        for b in self.inflight.values():
            if b.due == 0.0:
                if sent >= self.cfg.outbox.window:
                    continue
                sent += 1
                self._send(b, now, historical=False)
            elif b.due <= now or resume:
                b.tries += 1
                self.loop.stats["resent"] += 1
                self._send(b, now, historical=True)

    def _send(self, b: Batch, now: float, historical: bool) -> None:
        recs = [r for r in b.records if r[1] in b.seqs]
        tele = Tele.model_validate({  # Forwarder._tele
            "site": self.site, "node": self.node, "ts_ms": wall_ms(), "session": self.session,
            "seq": recs[0][1], "historical": historical,
            "samples": [{**body, "seq": s} for k, s, body in recs if k == "sample"],
            "events": [{**body, "seq": s} for k, s, body in recs if k == "event"],
            "dropped": []})
        self.publish("tele", tele)
        b.due = now + self._backoff(b.tries)

    def on_receipt(self, rx: DeliveryReceipt, now: float) -> None:
        """Central committed these seqs (Forwarder.on_receipt); the lag of each sample."""
        for lo in list(self.inflight):
            b = self.inflight[lo]
            covered = {s for s in b.seqs if any(a <= s <= z for a, z in rx.acked)}
            for s in covered:
                t = self.taken.pop(s, None)
                if t is not None:
                    self.loop.lag(t, now)
            b.seqs -= covered
            if not b.seqs:
                del self.inflight[lo]
        if not self.inflight:
            self.loop.busy.discard(self)

    def stop(self) -> None:
        """Clean stop: retained offline state, then DISCONNECT (no Will)."""
        if self.connected:
            self.publish("state", node_state(self.cfg, self.session, online=False), retain=True)
        self.client.disconnect()


class SimLoop:
    """Every node of this process on one selector (paho's external-loop callbacks)."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.host, self.port = conf["host"], int(conf["port"])
        self.sel = selectors.DefaultSelector()
        self.synced = clock_synced()
        self.closing = False
        self.connacks = self.subscribed = 0
        self.busy: set[SimAgent] = set()
        self.reconnect_at: list[tuple[float, SimAgent]] = []
        self.stats: dict[str, int] = {k: 0 for k in (
            "samples", "resent", "disconnects", "refused", "sub_refused", "decode_errors")}
        self.window: tuple[float, float] | None = None  # monotonic (go, stop) of the window
        self.lags: list[float] = []
        self.window_samples = 0
        self.cmds: dict[str, dict[str, Any]] = {}
        self.late_ms: list[float] = []
        self.busy_ms: list[float] = []
        self.gc_ms: list[float] = []
        self._gc_t0 = 0.0
        self._commands: list[str] = []

    # paho's external-loop callbacks
    def attach(self, c: mqtt.Client) -> None:
        """Hook a client's sockets into the selector."""
        c.on_socket_open = lambda cl, _u, s: self._register(s, cl)
        c.on_socket_close = lambda _c, _u, s: self._unregister(s)
        c.on_socket_register_write = lambda cl, _u, s: self._modify(
            s, selectors.EVENT_READ | selectors.EVENT_WRITE, cl)
        c.on_socket_unregister_write = lambda cl, _u, s: self._modify(
            s, selectors.EVENT_READ, cl)

    def _register(self, s: Any, cl: mqtt.Client) -> None:
        self.sel.register(s, selectors.EVENT_READ, cl)

    def _unregister(self, s: Any) -> None:
        with suppress(KeyError, ValueError):
            self.sel.unregister(s)

    def _modify(self, s: Any, events: int, cl: mqtt.Client) -> None:
        with suppress(KeyError, ValueError):
            self.sel.modify(s, events, cl)

    def io(self, timeout: float) -> float:
        """One select round: read and write what is ready; returns when select returned."""
        events = self.sel.select(timeout)
        woke = monotonic()
        for key, ev in events:
            if key.data is None:
                self._control()
                continue
            c: mqtt.Client = key.data
            if ev & selectors.EVENT_READ:
                c.loop_read()
            if ev & selectors.EVENT_WRITE:
                c.loop_write()
        return woke

    def _gc_timer(self, phase: str, info: dict[str, int]) -> None:
        """Time each collection (a stall of the simulator would read as central's lag)."""
        if phase == "start":
            self._gc_t0 = monotonic()
        elif self.in_window(self._gc_t0):
            self.gc_ms.append((monotonic() - self._gc_t0) * 1000)

    # figures
    def in_window(self, t: float) -> bool:
        """True if monotonic time t lies in the measured window."""
        return self.window is not None and self.window[0] <= t < self.window[1]

    def lag(self, taken: float, receipted: float) -> None:
        """A sample's receipt came (counted if the sample was taken in the window)."""
        if self.in_window(taken):
            self.lags.append((receipted - taken) * 1000)

    def cmd_seen(self, cmd_id: str, node: str) -> None:
        """A command reached a node (wall clock, for the driver's split)."""
        self.cmds.setdefault(cmd_id, {"node": node, "recv_ms": time.time() * 1000,
                                      "stages": {}})

    def cmd_stage(self, cmd_id: str, stage: str, code: str) -> None:
        """An ack the node published."""
        rec = self.cmds.setdefault(cmd_id, {"node": "?", "recv_ms": None, "stages": {}})
        rec["stages"][stage] = {"ms": time.time() * 1000, "code": code}

    # control from the driver: "go", "stop" on stdin
    def _control(self) -> None:
        data = os.read(sys.stdin.fileno(), 4096)
        if not data:  # the driver is gone: stop (and stop selecting on the closed pipe)
            self._unregister(sys.stdin.fileno())
            self._commands.append("stop")
        self._commands.extend(data.decode().split())

    def run(self) -> int:
        """Connect every node, run until "stop", drain, report, disconnect."""
        conf = self.conf
        creds = load_credentials(conf["credentials"])
        fleet = build_fleet(int(conf["fleet_size"]))
        mine = [fleet[i] for i in conf["indices"]]
        ns = argparse.Namespace(mqtt_url=f"mqtt://{self.host}:{self.port}",
                                keepalive=int(conf["keepalive"]), state_dir=conf["state_dir"],
                                interval=float(conf["interval"]),
                                command_pub=conf["command_pub"], outbox_max_records=None,
                                set=[])
        nodes = [SimAgent(n, node_config(n, ns, creds[n.node]), self,
                          Path(conf["state_dir"]) / n.node, int(conf["seed"])) for n in mine]
        os.set_blocking(sys.stdin.fileno(), False)
        self.sel.register(sys.stdin.fileno(), selectors.EVENT_READ, None)
        anchor = Anchor(self, conf["anchor"])
        tag = f"sim {conf['proc']}"
        t0 = monotonic()
        # connect in steps: mosquitto checks a PBKDF2 hash per CONNECT in its one thread
        last_note = t0
        for i, n in enumerate(nodes):
            while i - self.connacks >= CONNECT_INFLIGHT:
                self.io(0.05)
                if monotonic() - t0 > float(conf["connect_timeout"]):
                    raise TimeoutError(f"{tag}: {self.connacks}/{len(nodes)} CONNACKs")
            n.connect()
            if monotonic() - last_note > 5:
                last_note = monotonic()
                progress(f"{tag}: {i + 1}/{len(nodes)} connecting, {self.subscribed} ready")
        while self.subscribed < len(nodes):
            self.io(0.05)
            if monotonic() - t0 > float(conf["connect_timeout"]):
                raise TimeoutError(f"{tag}: {self.subscribed}/{len(nodes)} nodes subscribed")
        connect_s = monotonic() - t0
        progress(f"{tag}: {len(nodes)} nodes connected in {connect_s:.1f} s")
        # Thousands of long-lived node objects make every full collection walk them all
        # (a pause of a second stalls every node of this loop): freeze them out of the GC.
        tracked = len(gc.get_objects())
        gc.collect()
        gc.freeze()
        gc.callbacks.append(self._gc_timer)
        anchor.start()
        interval = float(conf["interval"])
        rng = random.Random(int(conf["seed"]))
        due = [(monotonic() + rng.uniform(0, interval), i) for i in range(len(nodes))]
        heapq.heapify(due)  # every node samples once per interval, phases spread
        print(json.dumps({"ready": True, "nodes": len(nodes),
                          "connect_s": round(connect_s, 2)}), flush=True)
        next_misc = next_sweep = monotonic()
        misc_at = 0
        draining_until: float | None = None
        cpu0 = time.process_time()
        cpu_window = 0.0
        while True:
            now = monotonic()
            if "go" in self._commands and self.window is None:
                self.window = (now, float("inf"))
                cpu0 = time.process_time()
            if "stop" in self._commands and draining_until is None:
                start = self.window[0] if self.window else now
                self.window = (start, now)
                draining_until = now + DRAIN_S
                cpu_window = time.process_time() - cpu0
            if draining_until is not None and (now >= draining_until
                                               or not self.waiting_in_window()):
                break
            while due and due[0][0] <= now and draining_until is None:
                t, i = heapq.heappop(due)
                if self.in_window(now):
                    self.late_ms.append((now - t) * 1000)
                    self.window_samples += 1
                nodes[i].sample(now)
                heapq.heappush(due, (t + interval, i))
            if now >= next_sweep:  # re-sends of batches without a receipt
                next_sweep = now + 0.25
                for n in list(self.busy):
                    n.pump(now)
            if now >= next_misc:  # keepalives, lease ticks, reconnects
                next_misc = now + MISC_PERIOD_S / MISC_SLICES
                step = -(-len(nodes) // MISC_SLICES)
                for n in nodes[misc_at:misc_at + step]:
                    n.client.loop_misc()
                    for ev in lease_tick(n.shaping, now):
                        n.events.append(ev)
                misc_at = misc_at + step if misc_at + step < len(nodes) else 0
                for when, n in [r for r in self.reconnect_at if r[0] <= now]:
                    self.reconnect_at.remove((when, n))
                    with suppress(OSError):
                        n.connect()
            anchor.tick(now)
            nxt = min(due[0][0] if due and draining_until is None else now + 0.05, next_sweep,
                      anchor.next_at)
            before = monotonic()
            woke = self.io(max(0.0, min(0.05, nxt - before)))
            if self.in_window(now):  # the loop's own work per round (no select wait)
                self.busy_ms.append((before - now + monotonic() - woke) * 1000)
        unreceipted = sum(1 for n in nodes for t in n.taken.values()
                          if self.window and self.window[0] <= t < self.window[1])
        connected = sum(1 for n in nodes if n.connected)
        print(json.dumps({"stats": {
            "proc": conf["proc"], "nodes": len(nodes), "connected": connected,
            "connect_s": round(connect_s, 2), "window_samples": self.window_samples,
            "lags_ms": [round(x, 1) for x in self.lags], "unreceipted": unreceipted,
            "late_ms_p99": p(self.late_ms, 99), "busy_ms_p99": p(self.busy_ms, 99),
            "busy_ms_max": p(self.busy_ms, 100), "gc_ms_max": p(self.gc_ms, 100),
            "gc_collections": len(self.gc_ms), "gc_tracked_at_start": tracked, "anchor_ms": [round(x, 2) for x in anchor.rtts],
            "cmds": self.cmds, "cpu_s_window": round(cpu_window, 2),
            "window_seqs": {n.node: n.win for n in nodes if n.win}, **self.stats}}),
            flush=True)
        self.closing = True
        anchor.close()
        for n in nodes:
            n.stop()
        end = monotonic() + 10
        while monotonic() < end and any(n.client.want_write() for n in nodes):
            self.io(0.05)
        return 0

    def waiting_in_window(self) -> bool:
        """True while a sample taken in the window still waits for its receipt."""
        w = self.window
        return w is None or any(w[0] <= t < w[1] for n in self.busy for t in n.taken.values())


class Anchor:
    """One extra client on the same loop: QoS 1 publish -> its own receipt, every 0.5 s."""

    def __init__(self, loop: SimLoop, conf: dict[str, str]) -> None:
        self.loop = loop
        self.topic = conf["topic"]
        self.rtts: list[float] = []
        self.sent: dict[bytes, float] = {}
        self.next_at = float("inf")
        self.ready = False
        self._misc = 0.0
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=conf["topic"].replace("/", "-"),
                        protocol=mqtt.MQTTv5)
        c.username_pw_set(conf["user"], conf["password"])
        c.on_connect = lambda cl, *_a: cl.subscribe(self.topic, qos=1)
        c.on_subscribe = lambda *_a: setattr(self, "ready", True)
        c.on_message = self._on_message
        loop.attach(c)
        c.connect(loop.host, loop.port, keepalive=30)
        self.client = c

    def start(self) -> None:
        """Begin timing (call once the loop runs)."""
        self.next_at = monotonic() + ANCHOR_PERIOD_S

    def tick(self, now: float) -> None:
        """Publish the next probe when due (an ack-sized payload)."""
        if now < self.next_at:
            return
        self.next_at = now + ANCHOR_PERIOD_S
        if now - self._misc > MISC_PERIOD_S:
            self._misc = now
            self.client.loop_misc()
        if not self.ready:
            return
        tag = secrets.token_hex(8).encode()
        self.sent[tag] = monotonic()
        self.client.publish(self.topic, tag + b" " * 240, qos=1)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        t0 = self.sent.pop(bytes(msg.payload[:16]), None)
        if t0 is not None and self.loop.window is not None:
            self.rtts.append((monotonic() - t0) * 1000)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()


def sim_child(conf_path: str) -> int:
    """Entry point of one simulator process (``--sim-child CONF``)."""
    conf = json.loads(Path(conf_path).read_text())
    raise_nofile(len(conf["indices"]) + 256)
    return SimLoop(conf).run()


# =================================================================== the driver
class SimProc:
    """One simulator child: JSON lines from its stdout on a queue, commands on its stdin."""

    def __init__(self, conf_path: Path) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, __file__, "--sim-child", str(conf_path)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=None, text=True, start_new_session=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with suppress(ValueError):
                self.lines.put(json.loads(line))
        self.lines.put({"eof": self.popen.wait()})

    def expect(self, key: str, timeout_s: float) -> dict[str, Any]:
        """The next line carrying ``key`` (RuntimeError if the child ends, TimeoutError)."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                obj = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"simulator: no {key!r} in {timeout_s:.0f} s") from None
            if "eof" in obj:
                raise RuntimeError(f"simulator exited with {obj['eof']} before {key!r}")
            if key in obj:
                return obj

    def send(self, word: str) -> None:
        """A control word ("go", "stop")."""
        assert self.popen.stdin is not None
        with suppress(BrokenPipeError, OSError):
            self.popen.stdin.write(word + "\n")
            self.popen.stdin.flush()

    def stop(self) -> None:
        """Wait for a clean exit, then kill the group."""
        self.send("stop")
        try:
            self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, 9)
            self.popen.wait(timeout=10)


class Http:
    """Timed HTTP against central: admin-token API calls and a logged-in NOC session."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token
        self.cookie = ""

    def _req(self, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes, float, Any]:
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers=headers or {})
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                data = resp.read()
                status, hdrs = resp.status, resp.headers
        except urllib.error.HTTPError as exc:
            data, status, hdrs = exc.read(), exc.code, exc.headers
        return status, data, (time.perf_counter() - t0) * 1000, hdrs

    def api(self, method: str, path: str, obj: Any = None) -> tuple[int, Any, float]:
        """A JSON API call with the admin token: (status, decoded body, ms)."""
        hdrs = {"Authorization": f"Bearer {self.token}"}
        body = None
        if obj is not None:
            body, hdrs["Content-Type"] = json.dumps(obj).encode(), "application/json"
        status, data, ms, _ = self._req(method, path, body, hdrs)
        return status, json.loads(data) if data else None, ms

    def login(self, user: str, password: str) -> None:
        """Log in through the NOC form (pre-login cookie + CSRF token, as a browser does)."""
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *_a: Any, **_k: Any) -> None:
                return None

        opener = urllib.request.build_opener(NoRedirect)
        with opener.open(self.base + "/noc/login", timeout=30) as r:
            pre = "; ".join(c.split(";")[0] for c in r.headers.get_all("Set-Cookie") or [])
            csrf = re.search(r'name="csrf" value="([^"]+)"', r.read().decode())
        if csrf is None:
            raise RuntimeError("no CSRF field on /noc/login")
        form = urllib.parse.urlencode({"csrf": csrf.group(1), "username": user,
                                       "password": password, "next": "/noc/"}).encode()
        req = urllib.request.Request(self.base + "/noc/login", data=form, headers={
            "Cookie": pre, "Content-Type": "application/x-www-form-urlencoded"})
        try:
            opener.open(req, timeout=30)
            raise RuntimeError("NOC login did not redirect")
        except urllib.error.HTTPError as exc:
            if exc.code != 303:
                raise RuntimeError(f"NOC login answered {exc.code}") from None
            self.cookie = "; ".join(c.split(";")[0] for c in exc.headers.get_all("Set-Cookie") or [])

    def noc(self, path: str) -> tuple[int, bytes, float]:
        """A NOC page with the session cookie: (status, body, ms)."""
        status, data, ms, _ = self._req("GET", path, headers={"Cookie": self.cookie})
        return status, data, ms


@dataclass
class Series:
    """Timings of one periodic request, and its failures."""

    ms: list[float] = field(default_factory=list)
    anchor_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def periodic(stop: threading.Event, period_s: float, fn: Callable[[], None]) -> threading.Thread:
    """Run fn every period_s (fixed rate, no catch-up burst) until stop is set."""
    def run() -> None:
        nxt = time.monotonic()
        while not stop.is_set():
            fn()
            nxt = max(nxt + period_s, time.monotonic())
            stop.wait(max(0.0, nxt - time.monotonic()))
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def api_load(http: Http, nodes: int, out: Series) -> Callable[[], None]:
    """GET /api/v1/nodes (must list every node), then /healthz as its anchor."""
    def one() -> None:
        try:
            status, body, ms = http.api("GET", "/api/v1/nodes")
            if status != 200 or len(body["nodes"]) != nodes:
                out.errors.append(f"/api/v1/nodes {status}, {len(body.get('nodes', []))} nodes")
            out.ms.append(ms)
            status, _, ms, _ = http._req("GET", "/healthz")
            out.anchor_ms.append(ms)
        except (OSError, ValueError, KeyError) as exc:
            out.errors.append(f"{type(exc).__name__}: {exc}")
    return one


def noc_load(http: Http, last_node: str, out: Series) -> Callable[[], None]:
    """GET the NOC fleet page (it embeds the fleet snapshot: the last node must be in it)."""
    def one() -> None:
        try:
            status, body, ms = http.noc("/noc/")
            if status != 200 or last_node.encode() not in body:
                out.errors.append(f"/noc/ {status}, {len(body)} bytes")
            out.ms.append(ms)
        except OSError as exc:
            out.errors.append(f"{type(exc).__name__}: {exc}")
    return one


def run_commands(http: Http, fleet: list[SimNode], count: int, window_s: float, seed: int,
                 stop: threading.Event, out: list[dict[str, Any]]) -> None:
    """``count`` set_throttle commands to random nodes, evenly over the window; each polled
    until its ``applied`` ack is stored (or 30 s)."""
    rng = random.Random(seed)
    t_start = time.monotonic()
    for i in range(count):
        at = t_start + (i + 0.5) * window_s / count
        if stop.wait(max(0.0, at - time.monotonic())):
            return
        node = rng.choice(fleet).node
        params = {"down_kbps": rng.randrange(2000, 20000, 500), "up_kbps": 2000}
        rec: dict[str, Any] = {"node": node, "issued_ms": time.time() * 1000}
        t0 = time.perf_counter()
        try:
            status, body, post_ms = http.api("POST", f"/api/v1/nodes/{node}/commands",
                                             {"kind": "set_throttle", "params": params})
            if status != 202:
                rec["error"] = f"POST {status}: {body}"
                out.append(rec)
                continue
            rec.update(cmd_id=body["cmd_id"], post_ms=round(post_ms, 1))
            deadline = t0 + 30
            while time.perf_counter() < deadline:
                _, cmd, _ = http.api("GET", f"/api/v1/commands/{body['cmd_id']}")
                stages = {s["stage"]: s for s in cmd.get("stages", [])}
                if "applied" in stages or "rejected" in stages:
                    rec["rtt_ms"] = round((time.perf_counter() - t0) * 1000, 1)
                    rec["stage"] = "applied" if "applied" in stages else "rejected"
                    rec["applied_received_ms"] = stages.get("applied", {}).get("received_ms")
                    break
                time.sleep(CMD_POLL_S)
            else:
                rec["error"] = "no applied ack in 30 s"
        except (OSError, ValueError, KeyError) as exc:
            rec["error"] = f"{type(exc).__name__}: {exc}"
        out.append(rec)


class CpuWatch:
    """CPU seconds of processes over the window, and the peak RSS of one of them."""

    def __init__(self, pids: dict[str, int], rss_pid: int) -> None:
        import psutil

        self.procs = {k: psutil.Process(pid) for k, pid in pids.items()}
        self.rss_pid = rss_pid
        self.rss_start = rss_mb(rss_pid)
        self.rss_peak = self.rss_start
        self.t0 = time.monotonic()
        self.cpu0 = {k: self._cpu(pr) for k, pr in self.procs.items()}
        self.stop = threading.Event()
        self.thread = periodic(self.stop, 1.0, self._sample)

    @staticmethod
    def _cpu(pr: Any) -> float:
        t = pr.cpu_times()
        return float(t.user + t.system)

    def _sample(self) -> None:
        self.rss_peak = max(self.rss_peak, rss_mb(self.rss_pid))

    def done(self) -> dict[str, float]:
        """% of one core per process over the window."""
        secs = time.monotonic() - self.t0
        self.stop.set()
        self.thread.join(5)
        return {k: round(100 * (self._cpu(pr) - self.cpu0[k]) / secs, 1)
                for k, pr in self.procs.items()} | {"seconds": round(secs, 1)}


def db_samples(backend: str, db: str, seqs: dict[str, list[int]]) -> list[tuple[int, int]]:
    """(ts_ms, received_ms) of the window's samples in central's database: per node, the
    samples between the first and the last seq the node took in the window."""
    sql = "SELECT ts_ms, received_ms FROM samples WHERE node = {0} AND seq BETWEEN {0} AND {0}"
    args = [(node, lo, hi) for node, (lo, hi, _) in sorted(seqs.items())]
    if backend == "sqlite":
        with closing(sqlite3.connect(db, timeout=30)) as c:
            return [tuple(r) for a in args for r in c.execute(sql.format("?"), a)]  # type: ignore[misc]
    import psycopg
    with psycopg.connect(db) as pc:
        return [tuple(r) for a in args for r in pc.execute(sql.format("%s"), a)]  # type: ignore[misc]


def log_problems(path: Path) -> tuple[list[str], int]:
    """Central's WARNING/ERROR log lines (a healthy run has none) and how many alerts it
    opened (the simulated fleet has uplink trouble now and then: those are expected)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return [], 0
    alerts = [line for line in lines if "alert opened:" in line]
    return [line[:300] for line in lines if (" WARNING " in line or " ERROR " in line)
            and line not in alerts], len(alerts)


def metrics_text(http: Http) -> dict[str, float]:
    """A few of central's own /metrics counters (write batches, queue, records)."""
    try:
        _, data, _, _ = http._req("GET", "/metrics",
                                  headers={"Authorization": f"Bearer {http.token}"})
    except OSError:
        return {}
    out: dict[str, float] = {"rejects_total": 0.0}
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("kotanet_central_rejects_total{"):
            out["rejects_total"] += float(line.split()[-1])
        for name in ("queue_depth", "records_written_total", "receipts_total",
                     "write_batch_size_count", "write_batch_size_sum", "write_errors_total"):
            if line.startswith(f"kotanet_central_{name} "):
                out[name] = float(line.split()[-1])
    return out


def start_sims(st: Stack, procs: int, args: argparse.Namespace) -> list[SimProc]:
    """Write each child's config and start it (nodes dealt round-robin)."""
    sims = []
    for k in range(procs):
        topic = f"{Topics().prefix}/bench/fleet-anchor-{k}"
        conf = {"proc": k, "host": st.broker.host, "port": st.broker.port,
                "credentials": str(st.creds_path), "fleet_size": len(st.fleet),
                "indices": list(range(k, len(st.fleet), procs)), "interval": args.interval,
                "keepalive": args.keepalive, "state_dir": str(st.dir / "nodes"),
                "command_pub": str(st.command_pub), "seed": args.seed + k,
                "connect_timeout": 60 + 0.05 * len(st.fleet),
                "anchor": {"user": "central", "password": st.broker.passwords["central"],
                           "topic": topic}}
        path = st.dir / f"sim-{k}.json"
        path.write_text(json.dumps(conf))
        path.chmod(0o600)
        sims.append(SimProc(path))
    return sims


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print JSON lines, the headline last."""
    ap = argparse.ArgumentParser(
        description=__doc__, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="200 nodes, a 40 s window, 10 commands (about 1.5 minutes)")
    ap.add_argument("--nodes", type=int, help="fleet size, up to 10000 (default 2000)")
    ap.add_argument("--duration", type=float, help="steady window in seconds (default 120)")
    ap.add_argument("--interval", type=float, default=10.0,
                    help="sample interval per node in seconds (default 10, as the agent)")
    ap.add_argument("--commands", type=int,
                    help="set_throttle commands over the window (default 60; quick 10)")
    ap.add_argument("--api-period", type=float, default=0.5, metavar="S",
                    help="one GET /api/v1/nodes every S seconds (default 0.5)")
    ap.add_argument("--noc-period", type=float, default=2.0, metavar="S",
                    help="one GET of the NOC fleet page every S seconds (default 2)")
    ap.add_argument("--sim-procs", type=int, default=None,
                    help="simulator processes (default: 1 per 2500 nodes)")
    ap.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite",
                    help="central's database (postgres: a private cluster, tests/pg)")
    ap.add_argument("--keepalive", type=int, default=30, help="nodes' MQTT keepalive (s)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sim-child", metavar="CONF", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.sim_child:
        return sim_child(args.sim_child)
    nodes = args.nodes or (200 if args.quick else 2000)
    if not 1 <= nodes <= 10_000:
        ap.error("--nodes must be 1..10000")
    duration = args.duration or (40.0 if args.quick else 120.0)
    n_cmds = args.commands if args.commands is not None else (10 if args.quick else 60)
    procs = args.sim_procs or max(1, -(-nodes // 2500))
    limit = raise_nofile(nodes + 1024)
    if limit < nodes + 256:
        progress(f"warning: RLIMIT_NOFILE is {limit}: too low for {nodes} connections")
    load_start = loadavg()
    cluster = None
    with tempfile.TemporaryDirectory(prefix="kotanet-fleet-") as tmp, \
            Stack(tmp, nodes, interval_s=args.interval, keepalive_s=args.keepalive) as st:
        sims: list[SimProc] = []
        try:
            t0 = time.monotonic()
            progress(f"provisioning {nodes} node users (one PBKDF2 hash each) and mosquitto")
            st.start_broker()
            provision_s = time.monotonic() - t0
            backend_db = str(st.db_path)
            if args.backend == "postgres":
                from pg_cluster import PgCluster
                cluster = PgCluster()
                cluster.start()
                backend_db = cluster.new_database()
                orig = st.central_env
                st.central_env = lambda http: {**orig(http), "KOTANET_DB": backend_db}  # type: ignore[method-assign]
            from central.noc.store import create_user
            create_user(backend_db, NOC_USER, NOC_PASSWORD, "viewer")
            central = st.start_central("fleet-central", extra_toml="reconnect_min_s = 0.2\n")
            http = Http(f"http://{st.http['fleet-central']}", st.admin_token)
            progress(f"central up (pid {central.pid}); starting {procs} simulator process(es)")
            t1 = time.monotonic()
            sims = start_sims(st, procs, args)
            ready = [s.expect("ready", 120 + 0.1 * nodes) for s in sims]
            connect_s = time.monotonic() - t1

            def online() -> int | None:
                n = sum(1 for x in st.nodes("fleet-central") if x.get("online"))
                return n if n >= nodes else None
            progress("waiting until central shows every node online")
            wait_until(online, 60 + 0.02 * nodes, f"{nodes} nodes online at central", 1.0)
            http.login(NOC_USER, NOC_PASSWORD)
            progress(f"all {nodes} nodes online; warming up one interval ({args.interval:g} s)")
            time.sleep(args.interval)
            # ---------------------------------------------------------- the window
            cpu = CpuWatch({"central": central.pid, "broker": st.broker.proc.pid,  # type: ignore[union-attr]
                            **{f"sim{i}": s.popen.pid for i, s in enumerate(sims)}},
                           central.pid)
            for s in sims:
                s.send("go")
            metrics0 = metrics_text(http)
            stop = threading.Event()
            api, noc = Series(), Series()
            cmds: list[dict[str, Any]] = []
            threads = [periodic(stop, args.api_period, api_load(http, nodes, api)),
                       periodic(stop, args.noc_period, noc_load(http, st.fleet[-1].node, noc))]
            cmd_thread = threading.Thread(target=run_commands, args=(
                http, st.fleet, n_cmds, duration * 0.95, args.seed, stop, cmds), daemon=True)
            cmd_thread.start()
            load_window = loadavg()
            end = time.monotonic() + duration
            while (left := end - time.monotonic()) > 0:
                time.sleep(min(left, 15.0))
                progress(f"window: {duration - max(0.0, end - time.monotonic()):.0f}/"
                         f"{duration:.0f} s, {len(cmds)} commands, {len(api.ms)} API GETs, "
                         f"central RSS {rss_mb(central.pid):.0f} MB, load {loadavg()}")
            cmd_thread.join(60)  # the last command finishes its poll
            stop.set()
            for th in threads:
                th.join(35)
            cpu_pct = cpu.done()
            metrics1 = metrics_text(http)
            progress("window over: draining the last receipts")
            for s in sims:
                s.send("stop")
            stats = [s.expect("stats", 60)["stats"] for s in sims]
            rows = db_samples(args.backend, backend_db,
                              {k: v for s in stats for k, v in s["window_seqs"].items()})
            rss_end = rss_mb(central.pid)
            warnings, alerts = log_problems(central.log_path)
        finally:
            for s in sims:
                s.stop()
            st.close()  # central before its database
            if cluster is not None:
                cluster.stop()
    report(nodes=nodes, procs=procs, duration=duration, interval=args.interval,
           backend=args.backend, provision_s=provision_s, connect_s=connect_s, ready=ready,
           stats=stats, cpu=cpu_pct, rss=(cpu.rss_start, cpu.rss_peak, rss_end), api=api,
           noc=noc, cmds=cmds, rows=rows, metrics=(metrics0, metrics1),
           load=(load_start, load_window, loadavg()), warnings=warnings, alerts=alerts)
    return 0


def report(*, nodes: int, procs: int, duration: float, interval: float, backend: str,
           provision_s: float, connect_s: float, ready: list[dict[str, Any]],
           stats: list[dict[str, Any]], cpu: dict[str, float], rss: tuple[float, float, float],
           api: Series, noc: Series, cmds: list[dict[str, Any]], rows: list[tuple[int, int]],
           metrics: tuple[dict[str, float], dict[str, float]], load: tuple[str, str, str],
           warnings: list[str], alerts: int) -> None:
    """Print the figures as JSON lines, the headline last."""
    def emit(rec: dict[str, Any]) -> None:
        print(json.dumps({"bench": "fleet", **rec}), flush=True)

    lags = [x for s in stats for x in s["lags_ms"]]
    anchor = [x for s in stats for x in s["anchor_ms"]]
    to_central = [float(r - t) for t, r in rows]
    sent = sum(s["window_samples"] for s in stats)
    unreceipted = sum(s["unreceipted"] for s in stats)
    connected = sum(s["connected"] for s in stats)
    anchor_p99 = p(anchor, 99)
    m0, m1 = metrics
    committed = m1.get("records_written_total", 0) - m0.get("records_written_total", 0)
    batches = m1.get("write_batch_size_count", 0) - m0.get("write_batch_size_count", 0)
    emit({"metric": "setup", "nodes": nodes, "connected": connected, "sim_procs": procs,
          "backend": backend, "interval_s": interval, "window_s": duration,
          "provision_s": round(provision_s, 1), "connect_s": round(connect_s, 1),
          "connect_s_per_proc": [r["connect_s"] for r in ready],
          "disconnects": sum(s["disconnects"] for s in stats),
          "refused": sum(s["refused"] + s["sub_refused"] for s in stats),
          "decode_errors": sum(s["decode_errors"] for s in stats),
          "central_rejects": m1.get("rejects_total"), "central_log_problems": len(warnings),
          "central_log_first": warnings[:3], "alerts_opened": alerts,
          "loadavg_start": load[0], "loadavg_window": load[1], "loadavg_end": load[2]})
    emit({"metric": "central_cpu", "value": cpu["central"], "unit": "% of one core",
          "rss_mb_start": round(rss[0], 1), "rss_mb_peak": round(rss[1], 1),
          "rss_mb_end": round(rss[2], 1), "broker_cpu_pct": cpu["broker"],
          "sim_cpu_pct": [v for k, v in cpu.items() if k.startswith("sim")],
          "records_committed": int(committed), "write_batches": int(batches),
          "cpu_ms_per_record_all_work": round(cpu["central"] * 10 * cpu["seconds"] / committed, 2)
          if committed else None,
          "central_queue_depth_end": m1.get("queue_depth"), "window_s": cpu["seconds"]})
    emit({"metric": "ingest_integrity", "samples_taken_in_window": sent,
          "receipted": len(lags), "unreceipted": unreceipted, "stored_in_window": len(rows),
          "resent": sum(s["resent"] for s in stats),
          "ok": unreceipted == 0 and len(rows) == sent})
    emit({"metric": "lag_to_central_receive_p99", "value": p(to_central, 99), "unit": "ms",
          "p50": p(to_central, 50), "max": p(to_central, 100), "samples": len(to_central),
          "note": "samples.received_ms - ts_ms: up to the collector's receipt, before commit"})
    ok_cmds = [c for c in cmds if c.get("stage") == "applied"]
    rtts = [c["rtt_ms"] for c in ok_cmds]
    seen = {k: v for s in stats for k, v in s["cmds"].items()}
    to_node = [seen[c["cmd_id"]]["recv_ms"] - c["issued_ms"] for c in ok_cmds
               if seen.get(c["cmd_id"], {}).get("recv_ms")]
    cmd_p99 = p(rtts, 99)
    cmd_ok = bool(cmds) and len(ok_cmds) == len(cmds) and cmd_p99 is not None \
        and cmd_p99 <= GOAL_CMD_MS
    emit({"metric": "command_round_trip_p99", "value": cmd_p99, "unit": "ms",
          "goal": f"<= {GOAL_CMD_MS:g} ms, every command applied", "anchor": anchor_p99,
          "ratio": round(cmd_p99 / anchor_p99, 2) if cmd_p99 and anchor_p99 else None,
          "p50": p(rtts, 50), "max": p(rtts, 100), "issued": len(cmds), "applied": len(ok_cmds),
          "errors": [c.get("error") for c in cmds if c.get("error")][:5],
          "issue_to_node_p99": p(to_node, 99), "post_ms_p99": p([c["post_ms"] for c in ok_cmds], 99),
          "poll_s": CMD_POLL_S, "other_commands_seen": len(seen) - len(cmds),
          "anchor_is": "broker echo p99 on the simulator's loop", "ok": cmd_ok})
    api_p99 = p(api.ms, 99)
    api_anchor = p(api.anchor_ms, 99)
    api_ok = api_p99 is not None and api_p99 <= GOAL_API_MS and not api.errors
    emit({"metric": "api_nodes_p99", "value": api_p99, "unit": "ms",
          "goal": f"<= {GOAL_API_MS:g} ms at {nodes} nodes", "anchor": api_anchor,
          "ratio": round(api_p99 / api_anchor, 2) if api_p99 and api_anchor else None,
          "p50": p(api.ms, 50), "max": p(api.ms, 100), "requests": len(api.ms),
          "errors": api.errors[:5], "anchor_is": "/healthz p99, same client", "ok": api_ok})
    noc_p99 = p(noc.ms, 99)
    emit({"metric": "noc_fleet_page_p99", "value": noc_p99, "unit": "ms",
          "goal": f"< {GOAL_NOC_MS:g} ms (plain GET of /noc/, logged in)", "anchor": api_p99,
          "ratio": round(noc_p99 / api_p99, 2) if noc_p99 and api_p99 else None,
          "p50": p(noc.ms, 50), "max": p(noc.ms, 100), "requests": len(noc.ms),
          "errors": noc.errors[:5], "anchor_is": "/api/v1/nodes p99",
          "ok": noc_p99 is not None and noc_p99 < GOAL_NOC_MS and not noc.errors})
    lag_p99 = p(lags, 99)
    lag_ok = lag_p99 is not None and lag_p99 <= GOAL_LAG_MS and unreceipted == 0
    emit({"metric": "ingest_lag_p99", "value": lag_p99, "unit": "ms",
          "goal": f"lag p99 <= {GOAL_LAG_MS:g} ms, command round trip p99 <= {GOAL_CMD_MS:g} ms"
                  f", /api/v1/nodes p99 <= {GOAL_API_MS:g} ms at {nodes} nodes",
          "anchor": anchor_p99,
          "ratio": round(lag_p99 / anchor_p99, 2) if lag_p99 and anchor_p99 else None,
          "p50": p(lags, 50), "p90": p(lags, 90), "max": p(lags, 100), "samples": len(lags),
          "unreceipted": unreceipted, "nodes": nodes, "central_cpu_pct": cpu["central"],
          "sim_late_ms_p99": max((s["late_ms_p99"] or 0) for s in stats),
          "sim_round_ms_p99": max((s["busy_ms_p99"] or 0) for s in stats),
          "sim_round_ms_max": max((s["busy_ms_max"] or 0) for s in stats),
          "sim_gc_ms_max": max((s["gc_ms_max"] or 0) for s in stats),
          "anchor_is": "broker echo p99 on the simulator's loop", "lag_ok": lag_ok,
          "cmd_ok": cmd_ok, "api_ok": api_ok, "loadavg": load[1],
          "ok": lag_ok and cmd_ok and api_ok})


if __name__ == "__main__":
    sys.exit(main())
