"""Failover lab (no tests here): node with two uplinks to two ISPs behind one 'internet', a
NATed client, the real agent failover running inside the node namespace, and a UDP flow.

    client 192.168.50.10 -- lan [node] wan1 100.64.1.2 -- isp1 -- inet (targets, receiver)
                                       wan2 100.64.2.2 -- isp2 --/

Run as a module for the processes that live inside namespaces:
``python -m tests.netns.test_failover_lab node|send|recv ...``.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .nsutil import Lab, Netns, add_loopback_addrs, masquerade_lan, two_isps

ROOT = Path(__file__).resolve().parents[2]
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
TARGETS = ["198.51.100.1", "198.51.100.2"]
RECEIVER = "203.0.113.10"
PORT = 9000
NAT = {"100.64.1.2": "primary", "100.64.2.2": "backup"}


class Proc:
    """A process inside a namespace whose JSON stdout lines are collected by a thread."""

    def __init__(self, ns: Netns, *args: str) -> None:
        self.all: list[dict[str, Any]] = []
        self.p = ns.popen(PY, "-u", "-m", "tests.netns.test_failover_lab", *args, cwd=str(ROOT),
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=None if os.environ.get("KTF_DEBUG") else subprocess.DEVNULL)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for raw in self.p.stdout:
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            self.all.append(rec)

    def wait_for(self, pred: Any, timeout: float) -> dict[str, Any] | None:
        """The first line so far (or arriving within ``timeout`` s) matching ``pred``."""
        end = time.monotonic() + timeout
        while True:
            hit = next((r for r in list(self.all) if pred(r)), None)
            if hit is not None or time.monotonic() >= end:
                return hit
            time.sleep(0.02)

    def stop(self) -> None:
        """Close stdin (asks it to exit), then terminate; bounded."""
        try:
            if self.p.stdin:
                self.p.stdin.close()
            self.p.wait(timeout=5)
        except (subprocess.TimeoutExpired, OSError):
            self.p.kill()
            self.p.wait(timeout=5)
        self._t.join(timeout=2)


class FailoverLab:
    """The namespaces above; ``start_node`` runs the agent failover inside the node."""

    def __init__(self) -> None:
        self.lab = Lab("ktf")
        self.procs: list[Proc] = []
        try:
            self._build()
        except BaseException:
            self.lab.close()
            raise

    def _build(self) -> None:
        lab = self.lab
        self.inet, self.node, self.client = lab.add("inet"), lab.add("node"), lab.add("client")
        self.isp = two_isps(lab, self.inet, self.node)
        add_loopback_addrs(self.inet, [*TARGETS, RECEIVER])
        lab.link(self.node, "lan", "192.168.50.1/24", self.client, "eth0", "192.168.50.10/24")
        self.client.run("ip", "route", "add", "default", "via", "192.168.50.1")
        self.node.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        masquerade_lan(self.node, saddr=None)

    def config(self, **failover: Any) -> dict[str, Any]:
        """Agent config for the node: fast probes, short stable window (overridable)."""
        fo = {"enabled": True, "stable_window_s": 2.5, "flap_window_s": 30.0, **failover}
        probe = {"targets": TARGETS, "probe_interval_s": 0.5, "probe_timeout_s": 0.45,
                 "probe_count": 1}
        return {"node": {"id": "n1", "site": "s1"}, "failover": fo, "uplinks": [
            {"name": "primary", "iface": "wan1", "priority": 0, **probe},
            {"name": "backup", "iface": "wan2", "priority": 10, "kind": "lte", **probe}]}

    def start_node(self, **failover: Any) -> Proc:
        """Run the failover controller in the node namespace; waits until it is ready."""
        proc = self.spawn(self.node, "node", json.dumps(self.config(**failover)))
        if proc.wait_for(lambda r: r.get("ready"), 20) is None:
            raise RuntimeError("failover node did not start")
        return proc

    def start_flow(self, seconds: float, interval_s: float = 0.01) -> tuple[Proc, Proc]:
        """Receiver in inet and a UDP sender (one flow, sequence numbers) in the client."""
        recv = self.spawn(self.inet, "recv")
        if recv.wait_for(lambda r: r.get("ready"), 10) is None:
            raise RuntimeError("receiver did not start")
        send = self.spawn(self.client, "send", str(seconds), str(interval_s))
        return recv, send

    def spawn(self, ns: Netns, *args: str) -> Proc:
        """Start and remember a helper process (stopped by close)."""
        proc = Proc(ns, *args)
        self.procs.append(proc)
        return proc

    def route(self) -> str:
        """Our table's default route as ip(8) prints it."""
        return self.node.run("ip", "route", "show", "table", "100").stdout.strip()

    def close(self) -> None:
        """Stop every process and delete every namespace."""
        for proc in self.procs:
            proc.stop()
        self.lab.close()


def packets_via(recv: Proc, uplink: str, after: float) -> list[dict[str, Any]]:
    """Packets the receiver saw from the uplink's NAT address after monotonic time ``after``."""
    return [r for r in list(recv.all) if r.get("via") == uplink and r["t"] >= after]


def max_gap(recv: Proc, start: float, end: float) -> float:
    """Longest silence (s) between consecutive received packets within [start, end]."""
    ts = sorted(r["t"] for r in list(recv.all) if "seq" in r and start <= r["t"] <= end)
    return max((b - a for a, b in zip(ts, ts[1:], strict=False)), default=end - start)


# ------------------------------------------------------------------ in-namespace processes
def _emit(rec: dict[str, Any]) -> None:
    print(json.dumps(rec, default=str), flush=True)


def _stdin_closed() -> threading.Event:
    done = threading.Event()

    def watch() -> None:
        sys.stdin.read()
        done.set()
    threading.Thread(target=watch, daemon=True).start()
    return done


def run_node(cfg_json: str) -> None:
    """The agent's failover (real probes, real routes) until stdin closes."""
    from agent.actuators.routes import RouteActuator
    from agent.config import parse_config
    from agent.controllers.failover import FailoverController, link_round
    from agent.probes.link import LinkProbe

    if os.environ.get("KTF_DEBUG"):
        import logging
        logging.basicConfig(level=logging.INFO, format="%(relativeCreated)d %(name)s %(message)s")
    cfg = parse_config(json.loads(cfg_json))
    act = RouteActuator(cfg)
    ctl = FailoverController(cfg, act)
    ctl.add_switch_hook(lambda old, new, res: _emit(
        {"switch": new, "from": old, "t": time.monotonic(), "ts_ms": int(time.time() * 1000),
         "ms": res.duration_ms,
         "flushed": res.flushed}))
    probes = {u.name: LinkProbe(u) for u in cfg.uplinks}
    done = _stdin_closed()
    for ev in ctl.start():
        _emit({"event": ev.kind, "ts_ms": ev.ts_ms, "data": ev.data})
    ctl.start_probing({n: functools.partial(link_round, p) for n, p in probes.items()})
    _emit({"ready": True, "active": ctl.active, "t": time.monotonic()})
    while not done.wait(0.05):
        for ev in ctl.drain():
            _emit({"event": ev.kind, "ts_ms": ev.ts_ms, "data": ev.data})
    ctl.stop()
    act.teardown()


def run_actuator(cfg_json: str) -> None:
    """Exercise RouteActuator once: set up, switch, a bad switch, tear down; report each step."""
    from agent.actuators.routes import RouteActuator
    from agent.config import parse_config

    def sysctl(key: str) -> str:
        return Path(f"/proc/sys/net/ipv4/conf/{key}").read_text().strip()

    act = RouteActuator(parse_config(json.loads(cfg_json)))
    act.setup()
    act.setup()  # idempotent
    _emit({"step": "setup", "rules": subprocess.run(["ip", "rule"], capture_output=True,
                                                    text=True).stdout,
           "linkdown": sysctl("wan1/ignore_routes_with_linkdown"), "rp": sysctl("wan2/rp_filter")})
    for name in ("primary", "backup"):
        res = act.apply(name)
        _emit({"step": name, "ok": res.ok, "rolled_back": res.rolled_back, "detail": res.detail,
               "current": act.current()})
    act.teardown()
    _emit({"step": "teardown", "rules": subprocess.run(["ip", "rule"], capture_output=True,
                                                       text=True).stdout})


def run_recv() -> None:
    """Print every received sequence number with arrival time and the uplink it came by."""
    sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sk.bind((RECEIVER, PORT))
    sk.settimeout(0.2)
    done = _stdin_closed()
    _emit({"ready": True})
    while not done.is_set():
        try:
            data, (src, _port) = sk.recvfrom(64)
        except TimeoutError:
            continue
        _emit({"seq": int(data), "t": time.monotonic(), "via": NAT.get(src, src)})


def run_send(seconds: float, interval: float) -> None:
    """One UDP flow (fixed source port) with sequence numbers, for ``seconds``."""
    sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sk.bind(("0.0.0.0", 40000))
    end, seq, nxt = time.monotonic() + seconds, 0, time.monotonic()
    while (now := time.monotonic()) < end:
        try:
            sk.sendto(str(seq).encode(), (RECEIVER, PORT))
        except OSError:
            pass
        seq += 1
        nxt += interval
        time.sleep(max(0.0, nxt - now))
    _emit({"sent": seq})


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if sys.argv[1] == "node":
        run_node(sys.argv[2])
    elif sys.argv[1] == "act":
        run_actuator(sys.argv[2])
    elif sys.argv[1] == "recv":
        run_recv()
    else:
        run_send(float(sys.argv[2]), float(sys.argv[3]))
