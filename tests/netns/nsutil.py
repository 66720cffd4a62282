"""Real network namespaces and veth pairs for tests; everything created is removed on close."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Sequence

import pytest

#: Temporary veth names in the root namespace start with this (<= 15 chars in all).
TMP_VETH_PREFIX = "kttmp"


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
