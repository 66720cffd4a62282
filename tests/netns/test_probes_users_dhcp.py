"""Users probe on real data: dnsmasq serving DHCP to dhclient clients, the kernel's neighbour
table, and fake hostapd radios whose stations overlap the leases."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.hostapd import FakeHostapd, FakeStation
from tests.netns.nsutil import Lab, Netns

pytestmark = pytest.mark.netns

CLIENTS = 4
SCRIPT = """#!/bin/sh
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
esac
exit 0
"""


def mac(i: int) -> str:
    return f"02:00:00:00:0c:{i:02x}"


class LanLab:
    """Node namespace with bridge lan0 served by dnsmasq; client namespaces run dhclient."""

    def __init__(self, lab: Lab, tmp: Path) -> None:
        self.tmp = tmp
        self.node = lab.add("lan")
        self.node.run("ip", "link", "add", "lan0", "type", "bridge")
        self.node.run("ip", "addr", "add", "10.9.0.1/24", "dev", "lan0")
        self.node.run("ip", "link", "set", "lan0", "up")
        self.clients: list[Netns] = []
        for i in range(1, CLIENTS + 1):
            c = lab.add(f"c{i}")
            lab.link(self.node, f"p{i}", None, c, "eth0", None)
            self.node.run("ip", "link", "set", f"p{i}", "master", "lan0")
            c.run("ip", "link", "set", "eth0", "address", mac(i))
            self.clients.append(c)
        self.leases = tmp / "dnsmasq.leases"
        self.dnsmasq: subprocess.Popen[bytes] | None = None

    def start_dhcp(self) -> None:
        """dnsmasq (DHCP only) on lan0, then one dhclient per client, each bounded."""
        self.dnsmasq = self.node.popen(
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=0",
            "--interface=lan0", "--bind-interfaces", "--dhcp-range=10.9.0.100,10.9.0.150,1h",
            f"--dhcp-leasefile={self.leases}", f"--pid-file={self.tmp}/dnsmasq.pid",
            "--dhcp-authoritative", "--no-ping", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        script = self.tmp / "dhclient-script"
        script.write_text(SCRIPT)
        script.chmod(0o755)
        procs = [c.popen("dhclient", "-4", "-1", "-sf", str(script), "-pf", f"{self.tmp}/c{i}.pid",
                         "-lf", f"{self.tmp}/c{i}.leases", "eth0",
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for i, c in enumerate(self.clients, 1)]  # in parallel; each forks once bound
        try:
            for p in procs:
                assert p.wait(timeout=30) == 0, "dhclient got no lease"
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait(timeout=5)

    def stop(self) -> None:
        """Stop dhclients and dnsmasq (the namespaces' deletion kills leftovers too)."""
        for i in range(1, len(self.clients) + 1):
            pidfile = self.tmp / f"c{i}.pid"
            if pidfile.exists() and pidfile.read_text().strip().isdigit():
                try:
                    os.kill(int(pidfile.read_text()), signal.SIGTERM)
                except ProcessLookupError:
                    pass
        if self.dnsmasq is not None:
            self.dnsmasq.terminate()
            self.dnsmasq.wait(timeout=10)

    def client_ip(self, c: Netns) -> str:
        out = c.run("ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout.split()
        return out[out.index("inet") + 1].split("/")[0]

    def users(self, hostapd_dir: Path) -> dict[str, Any]:
        """Run the real probe process in the node namespace, users probe only."""
        cfg = {"node": {"id": "n1", "site": "s1"},
               "users": {"hostapd_ctrl": [str(hostapd_dir)], "dnsmasq_leases": str(self.leases),
                         "lan_iface": "lan0", "ndsctl": "ktp-no-ndsctl", "hostapd_timeout_s": 0.3}}
        path = self.tmp / "agent.json"
        path.write_text(json.dumps(cfg))
        out = self.node.run(sys.executable, "-m", "agent.probes", "--config", str(path),
                            "--only", "users", timeout=60)
        (res,) = json.loads(out.stdout.splitlines()[-1])["results"]
        return dict(res)


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[LanLab]:
    lab = Lab("ktp")
    ll: LanLab | None = None
    try:
        ll = LanLab(lab, tmp_path)
        ll.start_dhcp()
        yield ll
    finally:
        if ll is not None:
            ll.stop()
        lab.close()


def test_real_leases_neighbours_and_hostapd_dedupe(lan: LanLab, tmp_path: Path) -> None:
    ips = [lan.client_ip(c) for c in lan.clients]
    assert len(set(ips)) == CLIENTS
    for ip in ips:  # traffic to each client: its neighbour entry is in use (DELAY/REACHABLE)
        lan.node.run(sys.executable, "-c",
                     f"import socket; socket.socket(2, 2).sendto(b'x', ('{ip}', 9))")
    for _ in range(50):  # bounded wait for ARP to settle
        neigh = lan.node.run("ip", "neigh", "show", "dev", "lan0").stdout
        if sum(neigh.count(s) for s in ("REACHABLE", "DELAY", "PROBE")) >= CLIENTS:
            break
        time.sleep(0.1)
    # a device that left long ago: a STALE entry must not count as present
    lan.node.run("ip", "neigh", "replace", "10.9.0.200", "lladdr", "02:00:00:00:0c:99",
                 "dev", "lan0", "nud", "stale")
    hdir = tmp_path / "hostapd"
    hdir.mkdir()
    radios = [
        FakeHostapd(str(hdir / "wlan0"), [FakeStation(mac(1).upper()), FakeStation(mac(2)),
                                          FakeStation("02:00:00:00:aa:01")]),  # no lease yet
        FakeHostapd(str(hdir / "wlan1"), [FakeStation(mac(2), signal=-80),   # seen on both
                                          FakeStation(mac(3), flags="[AUTH]")]),
        FakeHostapd(str(hdir / "wlan2"), [], silent=True),
    ]
    started: list[FakeHostapd] = []
    try:
        for r in radios:
            started.append(r.__enter__())
        res = lan.users(hdir)
    finally:
        for r in started:
            r.__exit__(None, None, None)
    assert res["status"] == "ok", res
    u = res["data"]["users"]
    assert u["leases"] == CLIENTS                 # dnsmasq's real lease file
    assert u["neighbours"] == CLIENTS             # REACHABLE only; the STALE one is not present
    assert u["associated"] == 3                   # c1, c2 (two radios), aa:01; c3 only [AUTH]
    assert u["total"] == CLIENTS + 1              # c1..c4 present + aa:01 associated
    assert u["authenticated"] is None
    assert "wlan2: timeout" in res["detail"] and "ndsctl: unavailable" in res["detail"]
