"""Cost of the agent's probes: CPU and wall time of one full probe cycle (two uplinks in real
network namespaces, 50 LAN clients via leases/neighbours/fake hostapd radios), the probe
process's steady CPU share at a 10 s sample interval with 1 s link probes, and its RSS next to
Debian's prometheus-node-exporter measured in the same run. CPU counts the helpers the probes
run and wait for (``ip -j neigh``) as well as the process's own threads. Also the RSS of the
LAN status page (`kotanet-agent statuspage`, its own process) serving a real agent's snapshot,
and, for information, the RSS of that whole agent (failover on: pyroute2 loaded for routes).

Last line: {"bench","metric","value","unit","goal","anchor","ratio","ok"}. --quick: < 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.hostapd import FakeHostapd, FakeStation  # noqa: E402
from tests.netns.nsutil import Lab  # noqa: E402

CLIENTS = 50
PAGE_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
HZ = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    """Progress to stderr (stdout carries only the JSON lines)."""
    print(msg, file=sys.stderr, flush=True)


def rss_kb(pid: int) -> int:
    """VmRSS of a process in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """CPU seconds of every thread of ``pid``: schedstat in ns (stat ticks are only 10 ms)."""
    total_ns = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            total_ns += int((task / "schedstat").read_text().split()[0])
        return total_ns / 1e9
    except (OSError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / HZ  # utime + stime


def build_lab(lab: Lab, tmp: Path) -> Any:
    """Node with two uplinks to two ISP namespaces, a LAN with 50 leases and neighbours."""
    node = lab.add("node")
    for key, net, targets in (("a", 1, ["192.0.2.1", "192.0.2.2"]),
                              ("b", 2, ["198.51.100.1", "198.51.100.2"])):
        isp = lab.add(f"isp{key}")
        lab.link(node, f"up{key}", f"10.{net}.0.2/24", isp, "node", f"10.{net}.0.1/24")
        for t in targets:
            isp.run("ip", "addr", "add", f"{t}/32", "dev", "lo")
        node.run("ip", "route", "add", "default", "via", f"10.{net}.0.1", "metric", str(net * 100))
    node.run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=2")
    node.run("ip", "link", "add", "lan0", "type", "bridge")
    node.run("ip", "addr", "add", "10.9.0.1/24", "dev", "lan0")
    node.run("ip", "link", "set", "lan0", "up")
    expiry = int(time.time()) + 3600
    lines = []
    for i in range(CLIENTS):
        mac, ip = f"02:00:00:00:{i // 256:02x}:{i % 256:02x}", f"10.9.0.{10 + i}"
        lines.append(f"{expiry} {mac} {ip} client{i} *")
        node.run("ip", "neigh", "replace", ip, "lladdr", mac, "dev", "lan0", "nud", "reachable")
    (tmp / "leases").write_text("\n".join(lines) + "\n")
    return node


def config(tmp: Path, link_interval: float) -> Path:
    """Write the agent config (JSON) for the bench node."""
    def up(name: str, targets: list[str], prio: int) -> dict[str, Any]:
        return {"name": name, "iface": f"up{name}", "targets": targets, "priority": prio,
                "probe_count": 3, "probe_interval_s": link_interval, "probe_timeout_s": 1.0}
    cfg = {"node": {"id": "bench", "site": "lab"}, "agent": {"probe_timeout_s": 3.0},
           "uplinks": [up("a", ["192.0.2.1", "192.0.2.2"], 0),
                       up("b", ["198.51.100.1", "198.51.100.2"], 1)],
           "users": {"hostapd_ctrl": [str(tmp / "hostapd")], "dnsmasq_leases": str(tmp / "leases"),
                     "lan_iface": "lan0", "ndsctl": "ktp-no-ndsctl"}}
    path = tmp / f"agent-{link_interval}.json"
    path.write_text(json.dumps(cfg))
    return path


def probe_cmd(cfg: Path, rounds: int, interval: float, link_every: float) -> list[str]:
    """The probe process command line."""
    return [sys.executable, "-m", "agent.probes", "--config", str(cfg), "--rounds", str(rounds),
            "--interval", str(interval), "--link-every", str(link_every)]


def cycle_cost(node: Any, cfg: Path, rounds: int) -> tuple[float, float, float]:
    """Median CPU (the process's own plus the helpers it ran, e.g. ``ip -j neigh``), the
    helpers' part of it, and median wall seconds of a full cycle (link rounds due every time)."""
    out = node.run(*probe_cmd(cfg, rounds + 1, 0.0, 0.0), timeout=120).stdout
    recs = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    kids = [b["children_cpu_s"] - a["children_cpu_s"] for a, b in zip(recs, recs[1:], strict=False)]
    recs = recs[1:]  # skip warm-up
    bad = [r for rec in recs for r in rec["results"] if r["status"] != "ok"]
    if bad:
        log(f"warning: probe results not ok: {bad[:2]}")
    return (statistics.median(r["cpu_s"] + k for r, k in zip(recs, kids, strict=True)),
            statistics.median(kids), statistics.median(r["wall_s"] for r in recs))


def steady(node: Any, cfg: Path, windows: int, ne_pid: int, ne_url: str) -> dict[str, float]:
    """CPU share and RSS of the probe process at 10 s samples with 1 s link probes."""
    proc = node.popen(*probe_cmd(cfg, windows + 3, 10.0, 1.0), stdout=subprocess.PIPE,
                      stderr=subprocess.DEVNULL)
    rss, ne_rss, shares = [], [], []
    lines: list[dict[str, Any]] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=_read_rounds, args=(proc.stdout, lines), daemon=True)
    try:
        first = proc.stdout.readline()  # first full round done: imports and warm-up behind us
        lines.append(json.loads(first))
        reader.start()
        c0, t0 = cpu_s(proc.pid), time.monotonic()
        for _ in range(windows * 10):
            time.sleep(1.0)
            rss.append(rss_kb(proc.pid))
            if len(rss) % 10 == 5:  # scrape node_exporter like a 10 s Prometheus would
                urllib.request.urlopen(ne_url, timeout=5).read()
            ne_rss.append(rss_kb(ne_pid))
            if len(rss) % 10 == 0:
                c1, t1 = cpu_s(proc.pid), time.monotonic()
                shares.append(100.0 * (c1 - c0) / (t1 - t0))
                c0, t0 = c1, t1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        if reader.is_alive():
            reader.join(timeout=10)
    # helpers the probes ran and waited for (``ip -j neigh``...): their CPU is the agent's too
    a, b = lines[0], lines[-1]
    kids = 100.0 * (b["children_cpu_s"] - a["children_cpu_s"]) / max(1e-9, b["mono_s"] - a["mono_s"])
    log(f"steady windows cpu% (own threads): {[round(s, 3) for s in shares]}; "
        f"helpers: {kids:.3f} % over {len(lines) - 1} rounds")
    return {"cpu_pct": statistics.median(shares) + kids, "children_pct": kids,
            "rss_mb": statistics.median(rss) / 1024, "ne_rss_mb": statistics.median(ne_rss) / 1024}


def _read_rounds(stream: Any, into: list[dict[str, Any]]) -> None:
    """Collect the probe process's round lines (so its pipe never fills) until it ends."""
    for _ in range(100_000):  # bounded: one line per round
        line = stream.readline()
        if not line:
            return
        if line.startswith(b"{"):
            into.append(json.loads(line))


def agent_toml(tmp: Path) -> Path:
    """agent.toml of one real agent in the bench node: it writes the snapshot the page serves
    (no broker: it samples and keeps retrying the connection, as a node offline would), and
    runs failover over its two uplinks (so its RSS includes pyroute2, which routes need)."""
    ups = "".join(f'[[uplinks]]\nname = "{n}"\niface = "up{n}"\npriority = {p}\n'
                  f"targets = {json.dumps(t)}\n"
                  for n, p, t in (("a", 0, ["192.0.2.1", "192.0.2.2"]),
                                  ("b", 1, ["198.51.100.1", "198.51.100.2"])))
    text = (f'[node]\nid = "bench"\nsite = "lab"\n[mqtt]\nurl = "mqtt://127.0.0.1:9"\n'
            f'[agent]\nstate_dir = "{tmp}/agent-state"\nstatus_file = "{tmp}/run/status.json"\n'
            f'[users]\nhostapd_ctrl = ["{tmp}/hostapd"]\ndnsmasq_leases = "{tmp}/leases"\n'
            f'lan_iface = "lan0"\nndsctl = ""\n[shaping]\nlan_iface = "lan0"\n'
            f'[failover]\nenabled = true\n{ups}')
    (tmp / "run").mkdir(exist_ok=True)
    path = tmp / "agent.toml"
    path.write_text(text)
    return path


FETCH = """import sys, time, urllib.request
n, out = int(sys.argv[1]), []
for i in range(n):
    t0 = time.monotonic()
    urllib.request.urlopen("http://10.9.0.1/" + ("status.json" if i % 2 else ""), timeout=5).read()
    out.append(time.monotonic() - t0)
print(sorted(out)[len(out) // 2] * 1000)
"""


def statuspage_cost(node: Any, tmp: Path, requests: int) -> dict[str, float]:
    """RSS of the status page process (bound to lan0) after serving ``requests`` requests of a
    real agent's snapshot, and the median time of one request."""
    conf = agent_toml(tmp)
    cli = [sys.executable, "-m", "agent.cli"]
    agent = node.popen(*cli, "--config", str(conf), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    page = None
    try:
        for _ in range(300):  # bounded: the first sample comes within seconds
            if (tmp / "run" / "status.json").exists():
                break
            time.sleep(0.1)
        # the page runs under Debian's python3 as the package's launcher runs it (it needs
        # only the standard library and the agent's modules on the path)
        page = node.popen("env", f"PYTHONPATH={ROOT}", PAGE_PYTHON, "-m", "agent.cli",
                          "statuspage", "--config", str(conf), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
        for _ in range(100):
            if "10.9.0.1%lan0:80 " in node.run("ss", "-ltnH").stdout:
                break
            time.sleep(0.1)
        ms = float(node.run(sys.executable, "-c", FETCH, str(requests), timeout=120).stdout)
        rss = rss_kb(page.pid) / 1024
        agent_rss = rss_kb(agent.pid) / 1024
    finally:
        for proc in (page, agent):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=15)
    log(f"status page: {rss:.1f} MB RSS after {requests} requests, median {ms:.1f} ms each; "
        f"the whole agent (MQTT, outbox, failover with pyroute2 routes): {agent_rss:.1f} MB")
    return {"rss_mb": rss, "ms": ms, "agent_rss_mb": agent_rss}


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    """Run the bench; the last stdout line is the headline JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    cycles, windows = (9, 3) if args.quick else (31, 9)
    with tempfile.TemporaryDirectory(prefix="ktp-bench-") as d, ExitStack() as stack:
        tmp = Path(d)
        lab = Lab("ktp")
        stack.callback(lab.close)
        node = build_lab(lab, tmp)
        (tmp / "hostapd").mkdir()
        for r, part in enumerate((range(0, 30), range(20, CLIENTS))):  # 10 roam across radios
            stas = [FakeStation(f"02:00:00:00:00:{i:02x}") for i in part]
            stack.enter_context(FakeHostapd(str(tmp / "hostapd" / f"wlan{r}"), stas))
        port = free_port()
        ne = subprocess.Popen(["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stack.callback(ne.wait, timeout=10)  # ExitStack runs callbacks last-in first-out
        stack.callback(ne.terminate)
        url = f"http://127.0.0.1:{port}/metrics"
        for _ in range(100):  # bounded wait for node_exporter to listen
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        cpu, kids, wall = cycle_cost(node, config(tmp, 0.001), cycles)
        st = steady(node, config(tmp, 1.0), windows, ne.pid, url)
        page = statuspage_cost(node, tmp, 60 if args.quick else 400)
    cycle = {"bench": "probe_cost", "metric": "full_cycle", "cpu_ms": round(cpu * 1000, 2),
             "helpers_cpu_ms": round(kids * 1000, 2), "wall_ms": round(wall * 1000, 1),
             "cycles": cycles}
    share = {"bench": "probe_cost", "metric": "steady_cpu_pct", "value": round(st["cpu_pct"], 3),
             "unit": "% of one core", "helpers_pct": round(st["children_pct"], 3),
             "goal": "<= 1", "ok": st["cpu_pct"] <= 1.0}
    print(json.dumps(cycle))
    print(json.dumps(share))
    page_ratio = page["rss_mb"] / st["ne_rss_mb"]
    print(json.dumps({"bench": "probe_cost", "metric": "statuspage_rss",
                      "value": round(page["rss_mb"], 1), "unit": "MB",
                      "goal": "<= node_exporter RSS (own process; the agent's RSS unchanged)",
                      "anchor": round(st["ne_rss_mb"], 1), "ratio": round(page_ratio, 2),
                      "request_ms": round(page["ms"], 2), "ok": page_ratio <= 1.0}))
    print(json.dumps({"bench": "probe_cost", "metric": "agent_rss_info",
                      "value": round(page["agent_rss_mb"], 1), "unit": "MB",
                      "note": "the whole kotanet-agent with failover (MQTT, outbox, pyroute2 "
                              "routes); the goal above is the probe process's",
                      "anchor": round(st["ne_rss_mb"], 1),
                      "ratio": round(page["agent_rss_mb"] / st["ne_rss_mb"], 2)}))
    ratio = st["rss_mb"] / st["ne_rss_mb"]
    print(json.dumps({"bench": "probe_cost", "metric": "probe_process_rss",
                      "value": round(st["rss_mb"], 1), "unit": "MB",
                      "goal": "<= 2x node_exporter RSS and steady CPU <= 1 % of a core",
                      "anchor": round(st["ne_rss_mb"], 1), "ratio": round(ratio, 2),
                      "ok": ratio <= 2.0 and st["cpu_pct"] <= 1.0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
