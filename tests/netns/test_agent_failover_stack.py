"""Whole-stack failover lab (no tests here): the real kotanet-agent inside a node namespace with
two uplinks; mosquitto and kotanet-central inside the 'internet' namespace.

    [node] wan1 100.64.1.2 -- isp1 --\\     (ISPs drop foreign source addresses, BCP 38)
           wan2 100.64.2.2 -- isp2 ---- inet: broker 203.0.113.20:1883, probe targets,
                                              central API 127.0.0.1:8080 (inet's loopback)

The broker sees each MQTT connection's source address, so "the session runs over the backup"
is read from mosquitto's own log, not from the agent.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from provisioning.mosquitto import acl_file, mosquitto_conf, password_file, password_hash

from .nsutil import Lab, Netns

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TARGETS = ["198.51.100.1", "198.51.100.2"]
BROKER_IP, BROKER_PORT, HTTP = "203.0.113.20", 1883, "127.0.0.1:8080"
WAN_ADDR = {"primary": "100.64.1.2", "backup": "100.64.2.2"}
NODE, SITE = "n1", "s1"
STABLE_S = 3.0


def wait_for(pred: Callable[[], T | None], timeout: float, what: str, step: float = 0.2) -> T:
    """Poll ``pred`` until truthy (bounded); AssertionError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def agent_toml(state: Path, password: str) -> str:
    """agent.toml of the node: failover on, fast probes, short stable window.

    The MQTT keepalive is the default 30 s: a session stuck on a dead path would take ~45 s to
    notice by itself, so a new session within seconds shows the switch hook reconnected it."""
    probe = (f"targets = {json.dumps(TARGETS)}\nprobe_interval_s = 0.4\nprobe_timeout_s = 0.35\n"
             "probe_count = 1\n")
    return f"""\
[node]
id = "{NODE}"
site = "{SITE}"
[mqtt]
url = "mqtt://{BROKER_IP}:{BROKER_PORT}"
password = "{password}"
keepalive_s = 30
reconnect_min_s = 0.2
reconnect_max_s = 1.0
[agent]
state_dir = "{state}"
sample_interval_s = 0.5
probe_timeout_s = 1.0
[outbox]
flush_every = 1
retry_min_s = 0.5
retry_max_s = 2.0
[users]
hostapd_ctrl = []
dnsmasq_leases = "{state}/no.leases"
ndsctl = "{state}/no-ndsctl"
[failover]
enabled = true
stable_window_s = {STABLE_S}
flap_window_s = 30.0
[[uplinks]]
name = "primary"
iface = "wan1"
gateway = "100.64.1.1"
priority = 0
{probe}
[[uplinks]]
name = "backup"
iface = "wan2"
kind = "lte"
gateway = "100.64.2.1"
priority = 10
standby_probe_interval_s = 1.0
{probe}"""


class AgentLab:
    """Namespaces, broker, central and agent; ``close`` stops every process and namespace."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.token = secrets.token_urlsafe(16)
        self.pw = {"central": secrets.token_urlsafe(12), NODE: secrets.token_urlsafe(12)}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.lab = Lab("ktg")
        try:
            self._build()
        except BaseException:
            self.lab.close()
            raise

    def _build(self) -> None:
        lab = self.lab
        self.inet, self.node = lab.add("inet"), lab.add("node")
        self.isp = {1: lab.add("isp1"), 2: lab.add("isp2")}
        for n, isp in self.isp.items():
            lab.link(self.inet, f"i{n}", f"10.255.{n}.1/30", isp, "upl", f"10.255.{n}.2/30")
            lab.link(isp, "cust", f"100.64.{n}.1/24", self.node, f"wan{n}", f"100.64.{n}.2/24")
            isp.run("ip", "route", "add", "default", "via", f"10.255.{n}.1")
            isp.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
            isp.run("nft", "add table ip bcp38; add chain ip bcp38 fw { type filter hook forward "
                    "priority 0 ; }; add rule ip bcp38 fw iifname cust ip saddr != "
                    f"100.64.{n}.0/24 drop")  # ISPs drop spoofed customer sources (BCP 38)
            self.inet.run("ip", "route", "add", f"100.64.{n}.0/24", "via", f"10.255.{n}.2")
        for addr in [*TARGETS, BROKER_IP]:
            self.inet.run("ip", "addr", "add", f"{addr}/32", "dev", "lo")
        # what NetworkManager/dhcpcd would leave in main: one default per uplink, by metric
        self.node.run("ip", "route", "add", "default", "via", "100.64.1.1", "metric", "100")
        self.node.run("ip", "route", "add", "default", "via", "100.64.2.1", "metric", "200")
        # as firmware_configs/nftables.conf.tmpl: only the LAN is masqueraded, so a socket of
        # the node itself keeps its old uplink's source address after a switch
        self.node.run("nft", "add table ip ktnat; add chain ip ktnat post { type nat hook "
                      "postrouting priority 100 ; }; add rule ip ktnat post ip saddr "
                      '192.168.50.0/24 oifname { "wan1", "wan2" } masquerade')

    def _spawn(self, name: str, ns: Netns, argv: list[str], env: dict[str, str] | None = None,
               ) -> subprocess.Popen[bytes]:
        with open(self.dir / f"{name}.log", "ab") as out:
            proc = ns.popen(*argv, stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT),
                            env={**os.environ, **(env or {})})
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        """The whole log of one process (or mosquitto's own log file)."""
        try:
            return (self.dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""

    def start_broker(self) -> None:
        """Mosquitto in inet, listening on every inet address; waits until it listens."""
        bdir = self.dir / "broker"
        bdir.mkdir()
        (bdir / "passwd").write_text(password_file({u: password_hash(p)
                                                    for u, p in self.pw.items()}))
        (bdir / "acl").write_text(acl_file(nodes={NODE: (SITE, NODE)}))
        for f in ("passwd", "acl"):
            os.chmod(bdir / f, 0o600)
        (bdir / "mosquitto.conf").write_text(mosquitto_conf(
            port=BROKER_PORT, bind="0.0.0.0", password_file=str(bdir / "passwd"),
            acl_file=str(bdir / "acl"), log_file=str(self.dir / "mosquitto-broker.log"),
            run_as="root"))
        self._spawn("mosquitto", self.inet, ["mosquitto", "-c", str(bdir / "mosquitto.conf")])
        wait_for(lambda: f":{BROKER_PORT} " in self.inet.run("ss", "-ltnH").stdout, 10,
                 "mosquitto to listen")

    def start_central(self) -> None:
        """kotanet-central in inet (SQLite, API on inet's loopback); waits for /healthz."""
        conf = self.dir / "central.toml"
        conf.write_text(f'instance = "central-1"\n[mqtt]\nkeepalive_s = 5\n'
                        f'[[nodes]]\nnode = "{NODE}"\nsite = "{SITE}"\n')
        env = {"KOTANET_MQTT_URL": f"mqtt://central:{self.pw['central']}@127.0.0.1:{BROKER_PORT}",
               "KOTANET_DB": f"sqlite:///{self.dir / 'central.db'}", "KOTANET_HTTP": HTTP,
               "KOTANET_ADMIN_TOKEN": self.token}
        self._spawn("central", self.inet, [str(BIN / "kotanet-central"), "--config", str(conf)],
                    env)
        wait_for(lambda: self.inet.run("curl", "-sf", f"http://{HTTP}/healthz",
                                       check=False).returncode == 0, 30, "central /healthz")

    def start_agent(self) -> None:
        """The real kotanet-agent process in the node namespace."""
        conf = self.dir / "agent.toml"
        conf.write_text(agent_toml(self.dir / "agent-state", self.pw[NODE]))
        self._spawn("agent", self.node, [str(BIN / "kotanet-agent"), "--config", str(conf)])

    def api(self, path: str) -> Any:
        """GET a central API path (inside inet) as JSON; None when it does not answer 200."""
        proc = self.inet.run("curl", "-sf", "-m", "5", "-H", f"Authorization: Bearer {self.token}",
                             f"http://{HTTP}{path}", check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def events(self, kind: str) -> list[dict[str, Any]]:
        """The node's events of one kind stored at central (data decoded)."""
        rows = (self.api(f"/api/v1/nodes/{NODE}/events?limit=5000") or {}).get("events", [])
        for r in rows:
            if isinstance(r.get("data"), str):
                r["data"] = json.loads(r["data"])
        return [r for r in rows if r["kind"] == kind]

    def samples(self, since_ms: int) -> list[dict[str, Any]]:
        """The node's samples stored at central since a wall-clock time."""
        got = self.api(f"/api/v1/nodes/{NODE}/samples?since_ms={since_ms}&limit=5000") or {}
        return list(got.get("samples", []))

    def connections_from(self, addr: str) -> int:
        """How many times the node connected to the broker from ``addr`` (mosquitto's log)."""
        pat = re.compile(rf"New client connected from {re.escape(addr)}:\d+ as kotanet-{NODE}\b")
        return len(pat.findall(self.log("mosquitto-broker")))

    def route(self) -> str:
        """The agent's table 100 as ip(8) prints it."""
        return self.node.run("ip", "route", "show", "table", "100", check=False).stdout.strip()

    def carrier(self, n: int, up: bool) -> None:
        """Raise or cut the carrier of the node's wan<n> (its ISP-side veth end)."""
        self.isp[n].run("ip", "link", "set", "cust", "up" if up else "down")

    def close(self) -> None:
        """Stop agent, central, broker (SIGTERM, bounded, then SIGKILL); delete namespaces."""
        for name in ("agent", "central", "mosquitto"):
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.lab.close()
