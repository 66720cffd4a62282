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
import sys
from pathlib import Path
from typing import Any, TypeVar

from provisioning.mosquitto import acl_file, mosquitto_conf, password_file, password_hash
from tests.waiting import wait_for  # re-exported to the tests of this folder

from .nsutil import Lab, Procs, add_loopback_addrs, masquerade_lan, two_isps, two_uplinks_toml

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TARGETS = ["198.51.100.1", "198.51.100.2"]
BROKER_IP, BROKER_PORT, HTTP = "203.0.113.20", 1883, "127.0.0.1:8080"
WAN_ADDR = {"primary": "100.64.1.2", "backup": "100.64.2.2"}
NODE, SITE = "n1", "s1"
STABLE_S = 3.0




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
{two_uplinks_toml(probe)}"""


class AgentLab:
    """Namespaces, broker, central and agent; ``close`` stops every process and namespace."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.token = secrets.token_urlsafe(16)
        self.pw = {"central": secrets.token_urlsafe(12), NODE: secrets.token_urlsafe(12)}
        self.procs = Procs(workdir, ROOT)
        self.lab = Lab("ktg")
        try:
            self._build()
        except BaseException:
            self.lab.close()
            raise

    def _build(self) -> None:
        lab = self.lab
        self.inet, self.node = lab.add("inet"), lab.add("node")
        self.isp = two_isps(lab, self.inet, self.node, bcp38=True)
        add_loopback_addrs(self.inet, [*TARGETS, BROKER_IP])
        masquerade_lan(self.node)

    def log(self, name: str) -> str:
        """The whole log of one process (or mosquitto's own log file)."""
        return self.procs.log(name)

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
        self.procs.spawn("mosquitto", self.inet, ["mosquitto", "-c", str(bdir / "mosquitto.conf")])
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
        self.procs.spawn("central", self.inet, [str(BIN / "kotanet-central"), "--config", str(conf)],
                    env)
        wait_for(lambda: self.inet.run("curl", "-sf", f"http://{HTTP}/healthz",
                                       check=False).returncode == 0, 30, "central /healthz")

    def start_agent(self) -> None:
        """The real kotanet-agent process in the node namespace."""
        conf = self.dir / "agent.toml"
        conf.write_text(agent_toml(self.dir / "agent-state", self.pw[NODE]))
        self.procs.spawn("agent", self.node, [str(BIN / "kotanet-agent"), "--config", str(conf)])

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
        self.procs.stop(("agent", "central", "mosquitto"))
        self.lab.close()
