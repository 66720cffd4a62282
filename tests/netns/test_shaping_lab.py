"""A node namespace between an 'internet' namespace and two Wi-Fi clients on a bridge, plus iperf3."""

from __future__ import annotations

import subprocess
import sys
import time

from .nsutil import Lab, Netns

INET_IP = "192.0.2.1"
CLIENT_IPS = {"c1": "10.77.0.11", "c2": "10.77.0.12"}


class ShapingLab:
    """inet (192.0.2.1) -- wan0 [node: br0 10.77.0.1/24] -- c1 (.11), c2 (.12)."""

    def __init__(self) -> None:
        self.lab = Lab("kts")
        try:
            self._build()
        except BaseException:
            self.lab.close()
            raise

    def _build(self) -> None:
        lab = self.lab
        self.inet, self.node = lab.add("inet"), lab.add("node")
        self.clients = {name: lab.add(name) for name in CLIENT_IPS}
        lab.link(self.inet, "eth0", f"{INET_IP}/24", self.node, "wan0", "192.0.2.2/24")
        self.node.run("ip", "link", "add", "br0", "type", "bridge")
        self.node.run("ip", "addr", "add", "10.77.0.1/24", "dev", "br0")
        self.node.run("ip", "link", "set", "br0", "up")
        for i, (name, ns) in enumerate(self.clients.items()):
            lab.link(self.node, f"p{i}", None, ns, "eth0", f"{CLIENT_IPS[name]}/24")
            self.node.run("ip", "link", "set", f"p{i}", "master", "br0")
            ns.run("ip", "route", "add", "default", "via", "10.77.0.1")
        self.node.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.inet.run("ip", "route", "add", "10.77.0.0/24", "via", "192.0.2.2")
        # Senders emit MTU-sized packets, as Wi-Fi clients and a real WAN do; veth TSO would
        # hand HTB 64 KB super-packets, making 3-second averages at 1 Mbit/s coarse (+-17 %).
        for ns in (self.inet, *self.clients.values()):
            ns.run("ip", "link", "set", "dev", "eth0", "gso_max_segs", "1")

    @property
    def netns(self) -> str:
        """Name of the node namespace (where tc runs)."""
        return self.node.name

    def snapshot(self) -> str:
        """Every qdisc, class and filter (handles and parameters, no counters) of the node."""
        parts = []
        for args in (["-j", "qdisc", "show"], ["class", "show", "dev", "br0"],
                     ["class", "show", "dev", "ifb-kotanet"],
                     ["-j", "filter", "show", "dev", "br0"],
                     ["-j", "filter", "show", "dev", "br0", "ingress"],
                     ["-j", "filter", "show", "dev", "ifb-kotanet"]):
            parts.append(self.node.run("tc", *args, check=False).stdout)
        return "\n".join(parts)

    def close(self) -> None:
        """Remove every namespace."""
        self.lab.close()


BULK = r"""
import socket, sys, time
role, host, port, span = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
if role == "recv":
    srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port)); srv.listen(1); srv.settimeout(15)
    conn, _ = srv.accept(); conn.settimeout(10)
    total, first, last = 0, None, None
    while True:
        n = len(conn.recv(262144))
        if n == 0:
            break
        last = time.monotonic()
        if first is None:
            first = last
        else:
            total += n
    print(total * 8 / 1000 / (last - first) if first and last and last > first else 0.0)
else:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)  # little left to drain at the end
    for _ in range(100):
        try:
            s.connect((host, port))
            break
        except OSError:
            time.sleep(0.05)
    s.settimeout(10)
    end, buf = time.monotonic() + span, b"x" * 16384
    while time.monotonic() < end:
        s.sendall(buf)
    s.close()
"""


def measure(lab: ShapingLab, clients: list[str], download: bool, seconds: float = 3.0
            ) -> dict[str, float]:
    """Concurrent bulk TCP transfers of ``seconds``, one per client: goodput in kbit/s.

    The receiver divides every byte after the first read by the time from first to last byte,
    so TCP's retransmission catch-up counts where it belongs, whatever the window.
    """
    procs: list[subprocess.Popen[bytes]] = []
    recvs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for i, name in enumerate(clients):
            port = 5301 + i
            rx_ns, rx_ip = (lab.clients[name], CLIENT_IPS[name]) if download else (lab.inet, INET_IP)
            recvs[name] = rx_ns.popen(sys.executable, "-c", BULK, "recv", rx_ip, str(port),
                                      str(seconds), stdout=subprocess.PIPE)
            _wait_listen(rx_ns, port)
        for i, name in enumerate(clients):
            tx_ns, rx_ip = (lab.inet, CLIENT_IPS[name]) if download else (lab.clients[name], INET_IP)
            procs.append(tx_ns.popen(sys.executable, "-c", BULK, "send", rx_ip, str(5301 + i),
                                     str(seconds), stdout=subprocess.DEVNULL))
        out: dict[str, float] = {}
        for name, proc in recvs.items():
            stdout, _ = proc.communicate(timeout=seconds + 30)
            out[name] = float(stdout.decode().strip() or 0.0)
        return out
    finally:
        for proc in [*recvs.values(), *procs]:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


def _wait_listen(ns: Netns, port: int) -> None:
    for _ in range(200):
        if f":{port} " in ns.run("ss", "-ltnH", check=False).stdout:
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {port} in {ns.name}")
