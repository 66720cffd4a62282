"""On-site tools lab (no tests here): a node namespace as a technician finds it in a park.

    client 192.168.50.10 --- br0 192.168.50.1 [node] wan1 100.64.1.2 -- isp1 --\\
       (phone on the Wi-Fi)   dnsmasq (real)          wan2 100.64.2.2 -- isp2 ---- inet
                              fake hostapd socket                       broker 203.0.113.20
                                                                         (TLS 8883), DNS
                                                                         203.0.113.53, targets,
                                                                         central on loopback

Real: namespaces, veths, routes, nftables, dnsmasq (DHCP/DNS on br0 from the provisioning
template, and the "internet's" resolver), mosquitto with TLS and a password file,
kotanet-central, kotanet-agent, the status page process. Fakes only for what cannot exist
here: hostapd's radio (tests/fakes/hostapd.py) and GPIO (gpiozero's MockFactory via
GPIOZERO_PIN_FACTORY=mock).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from protocol.signing import b64url
from provisioning.mosquitto import acl_file, mosquitto_conf, password_file, password_hash
from provisioning.pki import issue_cert, make_ca
from provisioning.render import render
from tests.cmdkeys import KEY_FILE, KEY_ID, SIGNER
from tests.fakes.hostapd import FakeHostapd, FakeStation
from tests.waiting import wait_for

from .nsutil import (
    Lab,
    Netns,
    Procs,
    add_loopback_addrs,
    masquerade_lan,
    two_isps,
    two_uplinks_toml,
)

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TARGETS = ["198.51.100.1", "198.51.100.2"]
BROKER_IP, BROKER_NAME, DNS_IP = "203.0.113.20", "mqtt.kotanet.test", "203.0.113.53"
LAN_IP, CLIENT_IP, CLIENT_MAC = "192.168.50.1", "192.168.50.10", "02:00:00:00:50:0a"
HTTP = "127.0.0.1:8080"
NODE, SITE = "n1", "s1"
ENV = {"GPIOZERO_PIN_FACTORY": "mock"}  # no GPIO header here: gpiozero's own test double


def agent_toml(d: Path) -> str:
    """The node's agent.toml: TLS broker by name, failover, shaping, every user source."""
    probe = (f"targets = {json.dumps(TARGETS)}\nprobe_interval_s = 0.5\nprobe_timeout_s = 0.5\n"
             "probe_count = 2\n")
    return f"""\
[node]
id = "{NODE}"
site = "{SITE}"
role = "office"
[mqtt]
url = "mqtts://{BROKER_NAME}:8883"
password_file = "{d}/mqtt-password"
ca_file = "{d}/ca.crt"
reconnect_min_s = 0.2
reconnect_max_s = 1.0
[agent]
state_dir = "{d}/state"
sample_interval_s = 1.0
probe_timeout_s = 1.0
status_file = "{d}/run/status.json"
[outbox]
flush_every = 1
retry_min_s = 0.5
retry_max_s = 2.0
[users]
hostapd_ctrl = ["{d}/hostapd"]
dnsmasq_leases = "{d}/dnsmasq.leases"
lan_iface = "br0"
ndsctl = ""
[shaping]
enabled = true
lan_iface = "br0"
default_down_kbps = 50000
default_up_kbps = 10000
[failover]
enabled = true
stable_window_s = 3.0
[commands]
require_signed = true
keys = {{ "{KEY_ID}" = "{b64url(SIGNER.public_key)}" }}
[gpio]
led_ok = 17
led_warn = 27
led_fail = 22
button = 23
{two_uplinks_toml(probe)}"""


class FieldLab:
    """Namespaces and processes of the lab; ``close`` stops and removes everything."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.token = secrets.token_urlsafe(16)
        self.pw = {"central": secrets.token_urlsafe(12), NODE: secrets.token_urlsafe(12)}
        self.procs = Procs(workdir, ROOT, {**ENV, "KOTANET_ADMIN_TOKEN": self.token})
        self.stack = ExitStack()
        self.etc_netns: list[Path] = []
        self.made_etc_netns = not Path("/etc/netns").exists()
        self.lab = Lab("ktf")
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ building
    def _build(self) -> None:
        lab = self.lab
        self.inet, self.node, self.client = lab.add("inet"), lab.add("node"), lab.add("client")
        self.isp = two_isps(lab, self.inet, self.node)
        add_loopback_addrs(self.inet, [*TARGETS, BROKER_IP, DNS_IP])
        node = self.node
        node.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        node.run("ip", "link", "add", "br0", "type", "bridge")
        node.run("ip", "addr", "add", f"{LAN_IP}/24", "dev", "br0")
        node.run("ip", "link", "set", "br0", "up")
        lab.link(node, "lan1", None, self.client, "eth0", None)
        node.run("ip", "link", "set", "lan1", "master", "br0")
        self.client.run("ip", "link", "set", "eth0", "address", CLIENT_MAC)
        self.client.run("ip", "addr", "add", f"{CLIENT_IP}/24", "dev", "eth0")
        self.client.run("ip", "route", "add", "default", "via", LAN_IP)
        masquerade_lan(node)
        self._resolv(node, DNS_IP)  # the node asks the "internet's" resolver
        self._resolv(self.client, LAN_IP)  # phones ask the node's dnsmasq
        self._files()

    def _resolv(self, ns: Netns, server: str) -> None:
        """/etc/netns/<ns>/resolv.conf: ip netns exec bind-mounts it over /etc/resolv.conf."""
        d = Path("/etc/netns") / ns.name
        d.mkdir(parents=True, exist_ok=True)
        self.etc_netns.append(d)
        (d / "resolv.conf").write_text(f"nameserver {server}\n")

    def _files(self) -> None:
        d = self.dir
        ca_key, ca = make_ca("kotanet field lab CA")
        key, cert = issue_cert(ca_key, ca, BROKER_NAME, server=True,
                               names=(BROKER_NAME, BROKER_IP))
        (d / "ca.crt").write_bytes(ca)
        (d / "server.crt").write_bytes(cert)
        (d / "server.key").write_bytes(key)
        (d / "mqtt-password").write_text(self.pw[NODE] + "\n")
        os.chmod(d / "mqtt-password", 0o600)
        (d / "run").mkdir()
        (d / "state").mkdir()
        (d / "hostapd").mkdir()
        (d / "agent.toml").write_text(agent_toml(d))
        self.config = d / "agent.toml"
        self.status_file = d / "run" / "status.json"

    # ------------------------------------------------------------ processes
    def spawn(self, name: str, ns: Netns, argv: list[str], env: dict[str, str] | None = None,
              ) -> subprocess.Popen[bytes]:
        """Start a process in a namespace, output to <dir>/<name>.log."""
        return self.procs.spawn(name, ns, argv, env)

    def log(self, name: str) -> str:
        """One process's log."""
        return self.procs.log(name)

    def start_services(self) -> None:
        """The internet's resolver, the broker (TLS), the node's dnsmasq and the fake radio."""
        self.spawn("dns", self.inet, [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
            "--no-hosts", f"--listen-address={DNS_IP}", "--bind-interfaces", "--user=root",
            f"--address=/{BROKER_NAME}/{BROKER_IP}", f"--pid-file={self.dir}/dns.pid"])
        b = self.dir / "broker"
        b.mkdir()
        (b / "passwd").write_text(password_file({u: password_hash(p) for u, p in self.pw.items()}))
        (b / "acl").write_text(acl_file(nodes={NODE: (SITE, NODE)}))
        conf = mosquitto_conf(port=8883, bind=BROKER_IP, password_file=str(b / "passwd"),
                              acl_file=str(b / "acl"), log_file=str(self.dir / "broker.log"),
                              run_as="root", tls={"cafile": str(self.dir / "ca.crt"),
                                                  "certfile": str(self.dir / "server.crt"),
                                                  "keyfile": str(self.dir / "server.key")})
        (b / "mosquitto.conf").write_text(conf + "listener 1883 127.0.0.1\n")  # central's
        self.spawn("mosquitto", self.inet, ["mosquitto", "-c", str(b / "mosquitto.conf")])
        lan = render("dnsmasq.conf.tmpl", {  # the provisioning template, as a node gets it
            "node_id": NODE, "lan_iface": "br0", "dhcp_start": "192.168.50.100",
            "dhcp_end": "192.168.50.150", "netmask": "255.255.255.0", "lease": "1h",
            "lan_ip": LAN_IP, "lease_max": 50, "dns_servers": f"server={DNS_IP}"})
        lan = lan.replace("/var/lib/misc/dnsmasq.leases", str(self.dir / "dnsmasq.leases"))
        (self.dir / "dnsmasq-lan.conf").write_text(lan)
        self.spawn("dnsmasq-lan", self.node, [
            "dnsmasq", "--keep-in-foreground", f"--conf-file={self.dir}/dnsmasq-lan.conf",
            "--user=root", f"--pid-file={self.dir}/dnsmasq-lan.pid"])
        stations = [FakeStation(CLIENT_MAC), FakeStation("02:00:00:00:50:0b")]
        self.stack.enter_context(FakeHostapd(str(self.dir / "hostapd" / "wlan0"), stations))
        wait_for(lambda: ":8883 " in self.inet.run("ss", "-ltnH").stdout, 10, "mosquitto TLS")
        wait_for(lambda: f"{LAN_IP}:53 " in self.node.run("ss", "-lunH").stdout, 10,
                 "dnsmasq on br0")

    def start_central(self) -> None:
        """kotanet-central in inet on the broker's plain loopback listener."""
        conf = self.dir / "central.toml"
        conf.write_text(f'instance = "central-1"\n[mqtt]\nkeepalive_s = 5\n'
                        f'[[nodes]]\nnode = "{NODE}"\nsite = "{SITE}"\n')
        self.spawn("central", self.inet, [str(BIN / "kotanet-central"), "--config", str(conf)],
                   {"KOTANET_MQTT_URL": f"mqtt://central:{self.pw['central']}@127.0.0.1:1883",
                    "KOTANET_DB": f"sqlite:///{self.dir / 'central.db'}", "KOTANET_HTTP": HTTP,
                    "KOTANET_COMMAND_KEY": str(KEY_FILE)})  # commands signed, as in the field
        wait_for(lambda: self.inet.run("curl", "-sf", f"http://{HTTP}/healthz",
                                       check=False).returncode == 0, 30, "central /healthz")

    def start_agent(self) -> None:
        """The real kotanet-agent in the node namespace."""
        self.spawn("agent", self.node, [str(BIN / "kotanet-agent"), "--config", str(self.config)])

    def start_statuspage(self) -> None:
        """`kotanet-agent statuspage --config agent.toml`: port 80 of br0's address."""
        self.spawn("statuspage", self.node, [str(BIN / "kotanet-agent"), "statuspage",
                                              "--config", str(self.config), "--log-level",
                                              "info"])
        wait_for(lambda: f"{LAN_IP}%br0:80 " in self.node.run("ss", "-ltnH").stdout, 15,
                 "the status page to listen on br0's address, bound to br0")

    # ------------------------------------------------------------ tools
    def kotanet(self, *args: str, lang: str = "en", synced_clock: bool = False,
                timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run `kotanet-agent ARGS` in the node namespace with LANG for ``lang``.

        ``synced_clock``: the machine's clock is not NTP-synchronised and a test must not
        change it (it is the host's), so the process gets systemd-timesyncd's flag file on
        a tmpfs over /run in a private mount namespace: what a synchronised node has.
        """
        env = {**os.environ, **ENV, "LANG": "id_ID.UTF-8" if lang == "id" else "C.UTF-8"}
        env.pop("LC_ALL", None)
        env.pop("LC_MESSAGES", None)
        argv = [str(BIN / "kotanet-agent"), *args]
        if synced_clock:
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    'mount -t tmpfs kt-run /run && mkdir -p /run/systemd/timesync && '
                    'touch /run/systemd/timesync/synchronized && exec "$@"', "sh", *argv]
        return subprocess.run(["ip", "netns", "exec", self.node.name, *argv],
                               capture_output=True, text=True, timeout=timeout, env=env,
                               cwd=str(ROOT), check=False)

    def api(self, path: str) -> Any:
        """GET a central API path as JSON (None unless 200)."""
        proc = self.inet.run("curl", "-sf", "-m", "5", "-H", f"Authorization: Bearer {self.token}",
                             f"http://{HTTP}{path}", check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def api_post(self, path: str, body: dict[str, Any]) -> Any:
        """POST JSON to central's API (admin token); the decoded answer."""
        proc = self.inet.run("curl", "-s", "-m", "5", "-H", f"Authorization: Bearer {self.token}",
                             "-H", "Content-Type: application/json", "-d", json.dumps(body),
                             f"http://{HTTP}{path}", check=False)
        return json.loads(proc.stdout)

    def close(self) -> None:
        """Stop every process (SIGTERM, bounded, then SIGKILL), the fakes, the namespaces."""
        self.procs.stop(("statuspage", "agent", "central", "mosquitto", "dnsmasq-lan", "dns"))
        self.stack.close()
        self.lab.close()
        for d in self.etc_netns:
            shutil.rmtree(d, ignore_errors=True)
        if self.made_etc_netns:  # leave /etc as it was
            shutil.rmtree("/etc/netns", ignore_errors=True)
