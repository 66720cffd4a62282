"""agent.netlink on this machine with the real netifaces, psutil and pyroute2, and with each
source missing (unavailable, never a crash)."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from agent import hostinfo, netlink, sysexec
from agent.config import UsersSection
from agent.probes.users import UsersProbe


def test_loopback_address_state_and_counters_are_real() -> None:
    assert "127.0.0.1" in netlink.addresses("lo")
    st = netlink.link_state("lo")
    assert st.exists and st.admin_up and st.carrier
    before = {k: st.counter(k) for k in ("rx_bytes", "tx_bytes", "rx_errors", "tx_dropped")}
    assert all(isinstance(v, int) and v >= 0 for v in before.values()), before
    try:  # some loopback traffic so the byte counters move
        urllib.request.urlopen("http://127.0.0.1:9/", timeout=0.5)
    except (urllib.error.URLError, OSError):
        pass
    after = netlink.link_state("lo")
    for key, was in before.items():
        now = after.counter(key)
        assert now is not None and was is not None and now >= was, key


def test_absent_interface() -> None:
    assert netlink.addresses("ktp-absent0") == []
    assert netlink.link_state("ktp-absent0") == netlink.LinkState("ktp-absent0", exists=False)
    assert netlink.ifindex("ktp-absent0") is None
    with pytest.raises(FileNotFoundError):
        netlink.neighbours("ktp-absent0")


def test_real_neighbour_dump_has_the_shape_callers_use() -> None:
    for n in netlink.neighbours():
        assert isinstance(n, netlink.Neighbour) and n.ifindex > 0
        assert len(n.mac) == 17 and n.mac == n.mac.lower() and n.state.isupper()
        socket.inet_pton(socket.AF_INET6 if ":" in n.ip else socket.AF_INET, n.ip)
    assert all(n.ifindex == 1 for n in netlink.neighbours("lo"))


def test_ipv6_loopback_address() -> None:
    got = netlink.addresses("lo", socket.AF_INET6)
    assert got == [] or "::1" in got  # IPv6 may be disabled on the test machine


def test_no_psutil_counters_keep_the_link_state(monkeypatch: pytest.MonkeyPatch) -> None:
    def gone(_name: str) -> None:
        raise ImportError("No module named 'psutil'")
    monkeypatch.setattr(hostinfo, "nic_counters", gone)
    st = netlink.link_state("lo")
    assert st.exists and st.carrier and st.counters == () and st.counter("rx_bytes") is None


def test_no_netifaces_means_no_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    def gone() -> Any:
        raise ImportError("No module named 'netifaces'")
    monkeypatch.setattr(netlink, "_netifaces", gone)
    assert netlink.addresses("lo") == []


def test_no_psutil_at_all_keeps_the_link_state(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> Any:
        raise ImportError("No module named 'psutil'")
    monkeypatch.setattr(hostinfo, "_psutil", missing)
    st = netlink.link_state("lo")
    assert st.exists and st.admin_up and st.carrier and st.counters == ()


def test_link_state_from_a_sysfs_tree(tmp_path: Path) -> None:
    """Admin-down (no carrier file readable), up without carrier, up with carrier, absent."""
    for name, flags, carrier in (("down0", "0x1002", None), ("nocarrier0", "0x1003", "0"),
                                 ("up0", "0x1003", "1"), ("junk0", "zz", "1")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "flags").write_text(flags + "\n")
        if carrier is not None:
            (tmp_path / name / "carrier").write_text(carrier + "\n")
    got = {n: netlink.link_state(n, root=tmp_path) for n in
           ("down0", "nocarrier0", "up0", "junk0", "gone0", "../etc", "")}
    assert [(g.exists, g.admin_up, g.carrier) for g in got.values()] == [
        (True, False, False), (True, True, False), (True, True, True), (False, False, False),
        (False, False, False), (False, False, False), (False, False, False)]


def test_no_ip_command_neighbours_are_unavailable_in_the_users_probe() -> None:
    prev = sysexec.set_runner(lambda cmd, timeout: sysexec.ExecResult(tuple(cmd), None,
                                                                        missing=True))
    try:
        with pytest.raises(OSError):
            netlink.neighbours("lo")
        probe = UsersProbe(UsersSection(hostapd_ctrl=[], dnsmasq_leases=None, lan_iface="lo",
                                        ndsctl=None))
        notes: list[str] = []
        assert probe._neighbours(notes) is None
        assert notes and notes[0].startswith("neighbours lo: unavailable")
    finally:
        sysexec.set_runner(prev)
