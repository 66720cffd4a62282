"""Real network namespaces and veth pairs for tests; everything created is removed on close."""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

#: Temporary veth names in the root namespace start with this (<= 15 chars in all).
TMP_VETH_PREFIX = "kttmp"
CLONE_NEWNET = 0x40000000  # setns(2): join a network namespace (os.setns is Python 3.12+)


def require_netns() -> None:
    """Skip (a failure under CI=true) unless we are root with ip(8) available."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespace tests need root and iproute2")


def sh(args: Sequence[str], check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run a command, capture output, raise with its stderr on failure."""
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} -> {proc.returncode}: {proc.stderr.strip()}")
    return proc


class Netns:
    """One namespace; ``ns.run('ip', 'addr')`` runs inside it."""

    def __init__(self, name: str) -> None:
        self.name = name
        sh(["ip", "netns", "add", name])  # if this fails the name may be someone else's: keep it
        try:
            self.run("ip", "link", "set", "lo", "up")
        except BaseException:
            self.delete()  # created but not configured: never leak it
            raise

    def run(self, *args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
        """Run a command inside this namespace."""
        return sh(["ip", "netns", "exec", self.name, *args], check=check, timeout=timeout)

    def popen(self, *args: str, **kw: object) -> subprocess.Popen[bytes]:
        """Start a long-running process inside this namespace (caller stops it)."""
        return subprocess.Popen(["ip", "netns", "exec", self.name, *args], **kw)  # type: ignore[call-overload]

    def delete(self) -> None:
        """Remove the namespace (its veths go with it)."""
        pids = sh(["ip", "netns", "pids", self.name], check=False).stdout.split()
        for pid in pids:
            sh(["kill", "-9", pid], check=False)
        sh(["ip", "netns", "del", self.name], check=False)


class Lab:
    """A set of namespaces with a unique prefix; close() removes all of them."""

    def __init__(self, prefix: str = "kt") -> None:
        require_netns()
        self.prefix = f"{prefix}{secrets.token_hex(2)}"
        self.ns: dict[str, Netns] = {}

    @staticmethod
    def _tmp_names() -> tuple[str, str]:
        """Root-namespace names of a new veth pair (known prefix: leftovers are recognisable)."""
        tag = secrets.token_hex(4)
        return f"{TMP_VETH_PREFIX}{tag}a", f"{TMP_VETH_PREFIX}{tag}b"

    def add(self, short: str) -> Netns:
        """Create namespace <prefix>-<short>."""
        ns = Netns(f"{self.prefix}-{short}")
        self.ns[short] = ns
        return ns

    def link(self, a: Netns, a_if: str, a_addr: str | None, b: Netns, b_if: str,
             b_addr: str | None) -> None:
        """A veth pair between two namespaces, addresses in CIDR form, both ends up."""
        tmp_a, tmp_b = self._tmp_names()
        sh(["ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b])
        try:
            sh(["ip", "link", "set", tmp_a, "netns", a.name])
            sh(["ip", "link", "set", tmp_b, "netns", b.name])
        except BaseException:
            for tmp in (tmp_a, tmp_b):  # whichever end is still in the root namespace
                sh(["ip", "link", "del", tmp], check=False)
            raise
        a.run("ip", "link", "set", tmp_a, "name", a_if)
        b.run("ip", "link", "set", tmp_b, "name", b_if)
        for ns, ifname, addr in ((a, a_if, a_addr), (b, b_if, b_addr)):
            if addr:
                ns.run("ip", "addr", "add", addr, "dev", ifname)
            ns.run("ip", "link", "set", ifname, "up")

    def close(self) -> None:
        """Delete every namespace this lab created."""
        for ns in self.ns.values():
            ns.delete()
        self.ns.clear()


def _join_netns(name: str) -> None:
    """Move the calling thread (only it) into the named network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open(f"/run/netns/{name}", "rb") as f:
        if libc.setns(f.fileno(), CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")


def netns_thread(ns: Netns) -> ThreadPoolExecutor:
    """A one-thread executor whose thread lives in ``ns``: sockets opened by functions given to
    ``submit`` connect from there (HTTP to a namespace's addresses without a subprocess). Only
    that thread moves; ``shutdown()`` it before the lab closes, or the namespace outlives it."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"in-{ns.name}",
                              initializer=_join_netns, initargs=(ns.name,))


def bridge_node(prefix: str) -> tuple[Lab, Netns]:
    """A lab with one namespace '<prefix>…-node' holding an up bridge br0 (a node's LAN side)."""
    lab = Lab(prefix)
    try:
        ns = lab.add("node")
        ns.run("ip", "link", "add", "br0", "type", "bridge")
        ns.run("ip", "link", "set", "br0", "up")
    except BaseException:
        lab.close()
        raise
    return lab, ns


def two_isps(lab: Lab, inet: Netns, node: Netns, *, bcp38: bool = False) -> dict[int, Netns]:
    """Two ISP namespaces between ``inet`` and ``node``, as a park node's two uplinks see them.

        node wan<n> 100.64.<n>.2/24 -- cust 100.64.<n>.1 [isp<n>] upl 10.255.<n>.2/30 -- inet

    The node also gets what NetworkManager/dhcpcd would leave in its main table: one default
    route per uplink, by metric. ``bcp38``: each ISP drops customer packets with a foreign
    source address, as real ISPs do (so a socket on the wrong uplink's address goes nowhere).
    """
    isps = {n: lab.add(f"isp{n}") for n in (1, 2)}
    for n, isp in isps.items():
        lab.link(inet, f"i{n}", f"10.255.{n}.1/30", isp, "upl", f"10.255.{n}.2/30")
        lab.link(isp, "cust", f"100.64.{n}.1/24", node, f"wan{n}", f"100.64.{n}.2/24")
        isp.run("ip", "route", "add", "default", "via", f"10.255.{n}.1")
        isp.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        if bcp38:
            isp.run("nft", "add table ip bcp38; add chain ip bcp38 fw { type filter hook forward "
                    "priority 0 ; }; add rule ip bcp38 fw iifname cust ip saddr != "
                    f"100.64.{n}.0/24 drop")
        inet.run("ip", "route", "add", f"100.64.{n}.0/24", "via", f"10.255.{n}.2")
    node.run("ip", "route", "add", "default", "via", "100.64.1.1", "metric", "100")
    node.run("ip", "route", "add", "default", "via", "100.64.2.1", "metric", "200")
    return isps


def add_loopback_addrs(ns: Netns, addrs: Sequence[str]) -> None:
    """Host addresses (/32) on ``ns``'s loopback: the 'internet' hosts a test talks to."""
    for addr in addrs:
        ns.run("ip", "addr", "add", f"{addr}/32", "dev", "lo")


def masquerade_lan(node: Netns, saddr: str | None = "192.168.50.0/24") -> None:
    """As firmware_configs/nftables.conf.tmpl: masquerade out of wan1/wan2 (only ``saddr``, the
    LAN, when given: a socket of the node itself then keeps its address after a switch)."""
    match = f"ip saddr {saddr} " if saddr else ""
    node.run("nft", "add table ip ktnat; add chain ip ktnat post { type nat hook postrouting "
             f'priority 100 ; }}; add rule ip ktnat post {match}oifname {{ "wan1", "wan2" }} '
             "masquerade")


def two_uplinks_toml(probe: str) -> str:
    """agent.toml's [[uplinks]] for two_isps(): fibre primary on wan1, LTE backup on wan2;
    ``probe`` holds each uplink's probe settings (targets, intervals)."""
    return f"""\
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


class Procs:
    """Long-running processes of a lab, each logging to <dir>/<name>.log; ``stop`` ends them."""

    def __init__(self, workdir: Path, cwd: Path, env: dict[str, str] | None = None) -> None:
        self.dir, self.cwd, self.env = workdir, cwd, env or {}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, ns: Netns, argv: list[str], env: dict[str, str] | None = None,
              ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in ``ns``, stdout and stderr to <dir>/<name>.log."""
        with open(self.dir / f"{name}.log", "ab") as out:
            proc = ns.popen(*argv, stdout=out, stderr=subprocess.STDOUT, cwd=str(self.cwd),
                            env={**os.environ, **self.env, **(env or {})})
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        """The whole log of one process (or of a log file a process writes there itself)."""
        try:
            return (self.dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self, order: Sequence[str]) -> None:
        """SIGTERM each named process in ``order`` (bounded wait, then SIGKILL)."""
        for name in order:
            proc = self.procs.get(name)
            if proc is not None:
                stop_proc(proc)


def stop_proc(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a process if it still runs; SIGKILL after 15 s (bounded)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
