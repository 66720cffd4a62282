"""The rendered node firewall with real packets: public Wi-Fi clients reach the internet through
NAT, never private networks beyond the uplink; SSH on the uplinks is rate-limited.

client ns (lan 10.20.1.10) -> node ns (br0 10.20.1.1 | wan1 192.168.8.2, the generated
nftables.conf loaded with ``nft -f``) -> uplink ns (the modem 192.168.8.1, a public test
address 198.51.100.1, another private network 10.99.0.1).
"""

from __future__ import annotations

import ipaddress
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from subprocess import DEVNULL, Popen

import pytest

from provisioning.model import Node, Site, Uplink
from provisioning.render import SSH_BURST, node_files

from .nsutil import Lab, Netns

pytestmark = pytest.mark.netns

MODEM, PUBLIC, OTHER_PRIVATE, NODE_WAN = "192.168.8.1", "198.51.100.1", "10.99.0.1", "192.168.8.2"
NODE_LAN, CLIENT = "10.20.1.1", "10.20.1.10"

# TCP listeners (peer addresses appended to a log file) and UDP echo, bounded by the caller.
SERVER = """
import selectors, socket, sys
log, tcp, udp = sys.argv[1], sys.argv[2].split(","), [p for p in sys.argv[3].split(",") if p]
sel = selectors.DefaultSelector()
for p in tcp:
    s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", int(p))); s.listen(64); sel.register(s, selectors.EVENT_READ, "tcp")
for p in udp:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", int(p)))
    sel.register(u, selectors.EVENT_READ, "udp")
open(log + ".ready", "w").close()
while True:
    for key, _ in sel.select():
        if key.data == "tcp":
            conn, peer = key.fileobj.accept()
            with open(log, "a") as fh:
                fh.write(peer[0].removeprefix("::ffff:") + "\\n")
            conn.close()
        else:
            data, peer = key.fileobj.recvfrom(512); key.fileobj.sendto(data, peer)
"""
CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3])).close()
except OSError:
    sys.exit(1)
"""
UDP_ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1.0)
s.sendto(b"kti", (sys.argv[1], int(sys.argv[2])))
try:
    sys.exit(0 if s.recvfrom(64)[0] == b"kti" else 1)
except OSError:
    sys.exit(1)
"""


def tcp_ok(ns: Netns, addr: str, port: int, timeout: float = 1.0) -> bool:
    """True if a TCP connection from ``ns`` to addr:port completes (bounded)."""
    return ns.run(sys.executable, "-c", CONNECT, addr, str(port), str(timeout),
                  check=False, timeout=timeout + 10).returncode == 0


def ruleset(path: Path, allow_private: tuple[str, ...] = ()) -> Path:
    """Render the node's nftables.conf with the real renderer (LAN br0, uplink wan1)."""
    site = Site("taman", "Taman", "park", -2.54, 112.95, 10000, 5000, "telkom")
    node = Node("kti-01", site, "pi4", [Uplink("fiber", "wan1", "ethernet", 0, MODEM)],
                "Sampit Free WiFi", None, 1, ipaddress.IPv4Network("10.20.1.0/24"), {},
                [ipaddress.IPv4Network(a) for a in allow_private])
    path.write_text(node_files(node)["etc/nftables.conf"])
    return path


class IsolationLab:
    """client -- node -- uplink namespaces with listeners; close() removes everything."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.lab = Lab("kti")
        self.procs: list[Popen[bytes]] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        lab = self.lab
        self.client, self.node, self.up = lab.add("cl"), lab.add("nd"), lab.add("up")
        lab.link(self.client, "lan", f"{CLIENT}/24", self.node, "br0", f"{NODE_LAN}/24")
        lab.link(self.node, "wan1", f"{NODE_WAN}/24", self.up, "cust", f"{MODEM}/24")
        self.client.run("ip", "route", "add", "default", "via", NODE_LAN)
        self.node.run("ip", "route", "add", "default", "via", MODEM)
        self.node.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.up.run("ip", "route", "add", "10.20.1.0/24", "via", NODE_WAN)  # control case only
        for addr in (PUBLIC, OTHER_PRIVATE):
            self.up.run("ip", "addr", "add", f"{addr}/32", "dev", "lo")
        for ns, v6, peer, dev in ((self.client, "fd00:1::10/64", "fd00:1::1", "lan"),
                                  (self.up, "fd00:8::1/64", "fd00:8::2", "cust")):
            ns.run("ip", "-6", "addr", "add", v6, "dev", dev, "nodad")
            ns.run("ip", "-6", "route", "add", "default", "via", peer)
        self.node.run("ip", "-6", "addr", "add", "fd00:1::1/64", "dev", "br0", "nodad")
        self.node.run("ip", "-6", "addr", "add", "fd00:8::2/64", "dev", "wan1", "nodad")
        self.node.run("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        deadline = time.monotonic() + 10  # link-local addresses finish DAD before IPv6 works
        while any("tentative" in ns.run("ip", "-6", "addr").stdout
                  for ns in (self.client, self.node, self.up)):
            assert time.monotonic() < deadline, "IPv6 addresses stayed tentative"
            time.sleep(0.1)
        self.up_log = self._serve(self.up, "up", "80", "")
        self.node_log = self._serve(self.node, "node", "22,53", "53")

    def _serve(self, ns: Netns, name: str, tcp: str, udp: str) -> Path:
        log = self.tmp / f"{name}.peers"
        self.procs.append(ns.popen(sys.executable, "-c", SERVER, str(log), tcp, udp,
                                   stdout=DEVNULL, stderr=DEVNULL))
        deadline = time.monotonic() + 10
        while not Path(f"{log}.ready").exists():
            assert time.monotonic() < deadline, f"{name} listener did not start"
            time.sleep(0.05)
        return log

    def load(self, conf: Path) -> None:
        """Load a ruleset into the node namespace (``flush ruleset`` first, as on the node)."""
        self.node.run("nft", "-f", str(conf))

    def unload(self) -> None:
        """No firewall at all (the control case)."""
        self.node.run("nft", "flush", "ruleset")
        self.node.run("conntrack", "-F", check=False)

    def close(self) -> None:
        """Stop listeners (bounded) and delete every namespace."""
        for p in self.procs:
            p.kill()
            p.wait(timeout=5)
        self.lab.close()


@pytest.fixture(scope="module")
def iso(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IsolationLab]:
    lab = IsolationLab(tmp_path_factory.mktemp("kti"))
    try:
        yield lab
    finally:
        lab.close()


def test_without_firewall_the_modem_is_reachable(iso: IsolationLab) -> None:
    """Control: the topology itself routes clients to the modem; only the firewall stops it."""
    iso.unload()
    assert tcp_ok(iso.client, MODEM, 80)
    assert tcp_ok(iso.client, "fd00:8::1", 80)


def test_client_reaches_public_address_through_nat_only(iso: IsolationLab, tmp_path: Path) -> None:
    iso.load(ruleset(tmp_path / "nft.conf"))
    iso.up_log.write_text("")
    assert tcp_ok(iso.client, PUBLIC, 80), "the internet must stay reachable"
    assert iso.up_log.read_text().split() == [NODE_WAN], "the uplink sees the NAT address"
    assert not tcp_ok(iso.client, MODEM, 80), "modem admin page reachable from public Wi-Fi"
    assert not tcp_ok(iso.client, "192.168.8.254", 80), "any host on the uplink's subnet"
    assert not tcp_ok(iso.client, OTHER_PRIVATE, 80), "private network beyond the uplink"
    assert iso.up_log.read_text().split() == [NODE_WAN]
    # services of the node itself (input chain) keep working for the LAN
    assert iso.client.run(sys.executable, "-c", UDP_ECHO, NODE_LAN, "53",
                          check=False).returncode == 0, "DNS to the node"
    assert tcp_ok(iso.client, NODE_LAN, 53)


def test_ipv6_from_the_lan_is_not_forwarded(iso: IsolationLab, tmp_path: Path) -> None:
    iso.load(ruleset(tmp_path / "nft.conf"))
    assert not tcp_ok(iso.client, "fd00:8::1", 80)


def test_allow_private_opens_only_the_listed_network(iso: IsolationLab, tmp_path: Path) -> None:
    iso.load(ruleset(tmp_path / "nft.conf", allow_private=("10.99.0.0/24",)))
    assert tcp_ok(iso.client, OTHER_PRIVATE, 80), "the office intranet in allow_private"
    assert not tcp_ok(iso.client, MODEM, 80)
    assert tcp_ok(iso.client, PUBLIC, 80)


def test_ssh_closed_to_lan_and_rate_limited_on_uplinks(iso: IsolationLab, tmp_path: Path) -> None:
    iso.load(ruleset(tmp_path / "nft.conf"))
    assert not tcp_ok(iso.client, NODE_LAN, 22), "SSH must not be open to public Wi-Fi users"
    results = [tcp_ok(iso.up, NODE_WAN, 22, timeout=0.5) for _ in range(SSH_BURST + 4)]
    assert results[0], "SSH from the uplink side (NOC) must work"
    assert sum(results) <= SSH_BURST + 1, f"not rate-limited: {results}"
    assert not results[-1]
