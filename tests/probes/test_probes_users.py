"""Users probe: lease parsing, hostapd dedupe across radios, dead sources, daily uniques."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import sysexec
from agent.config import UsersSection
from agent.probes.base import ProbeRunner
from agent.probes.users import DailyUnique, UsersProbe, parse_leases, parse_ndsctl
from protocol.messages import Users
from tests.fakes.hostapd import FakeHostapd, FakeStation

NOW = 1_800_000_000


def test_leases_count_active_macs_and_skip_malformed_lines() -> None:
    text = "\n".join([
        f"{NOW + 600} 02:00:00:00:00:01 10.9.0.101 phone-a 01:02:00:00:00:00:01",
        f"{NOW + 600} 02:00:00:00:00:02 10.9.0.102 * *",
        f"{NOW - 5} 02:00:00:00:00:03 10.9.0.103 expired *",   # expired: not counted
        "0 02:00:00:00:00:04 10.9.0.104 static *",             # infinite lease
        f"{NOW + 600} 02:00:00:00:00:01 10.9.0.111 phone-a *",  # same device, 2nd lease
        "garbage line",
        f"{NOW + 600} not-a-mac 10.9.0.120 x *",
        "duid 00:01:00:01:2c:aa:bb:cc",
        "",
    ])
    scan = parse_leases(text, NOW)
    assert scan.macs == {"02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:04"}
    assert scan.malformed == 2


def test_ndsctl_json_counts_only_authenticated_clients() -> None:
    doc = ('{"client_list_length":"3","clients":{'
           '"aa:bb:cc:00:00:01":{"mac":"AA:BB:CC:00:00:01","state":"Authenticated"},'
           '"aa:bb:cc:00:00:02":{"mac":"aa:bb:cc:00:00:02","state":"Preauthenticated"},'
           '"aa:bb:cc:00:00:03":{"mac":"aa:bb:cc:00:00:03","state":"Authenticated"}}}')
    assert parse_ndsctl(doc) == {"aa:bb:cc:00:00:01", "aa:bb:cc:00:00:03"}


def test_daily_unique_counts_distinct_devices_and_resets_at_midnight() -> None:
    day = ["2026-11-28"]
    du = DailyUnique(day=lambda: day[0])
    assert du.add({"02:00:00:00:00:01", "02:00:00:00:00:02"}) == 2
    assert du.add({"02:00:00:00:00:02", "02:00:00:00:00:03"}) == 3
    day[0] = "2026-11-29"
    assert du.add({"02:00:00:00:00:01"}) == 1


@pytest.fixture
def ctrl_dir(tmp_path: Path) -> Path:
    d = tmp_path / "hostapd"
    d.mkdir()
    return d


@pytest.fixture
def radios(ctrl_dir: Path) -> Iterator[list[FakeHostapd]]:
    """Two radios sharing one roaming station, plus one hostapd that never answers."""
    wlan0 = FakeHostapd(str(ctrl_dir / "wlan0"), [
        FakeStation("02:00:00:00:00:01", signal=-40, inactive_msec=600_000),
        FakeStation("02:00:00:00:00:AA", flags="[AUTH][ASSOC]")])  # WPA handshake pending
    wlan1 = FakeHostapd(str(ctrl_dir / "wlan1"), [
        FakeStation("02:00:00:00:00:aa", signal=-71, flags="[AUTH][ASSOC]"),
        FakeStation("02:00:00:00:00:05", flags="[AUTH]")])  # authenticating, not associated
    dead = FakeHostapd(str(ctrl_dir / "wlan2"), [FakeStation("02:00:00:00:00:99")], silent=True)
    started: list[FakeHostapd] = []
    try:
        for r in (wlan0, wlan1, dead):
            started.append(r.__enter__())
        yield started
    finally:
        for r in started:
            r.__exit__(None, None, None)


def test_stations_deduped_across_radios_and_sources(radios: list[FakeHostapd],
                                                    ctrl_dir: Path, tmp_path: Path) -> None:
    leases = tmp_path / "dnsmasq.leases"
    exp = int(time.time()) + 3600
    leases.write_text(f"{exp} 02:00:00:00:00:01 10.9.0.101 a *\n"
                      f"{exp} 02:00:00:00:00:02 10.9.0.102 b *\nbroken\n")
    cfg = UsersSection(hostapd_ctrl=[str(ctrl_dir)], dnsmasq_leases=str(leases),
                       lan_iface=None, ndsctl=str(tmp_path / "no-ndsctl"), hostapd_timeout_s=0.3)
    runner = ProbeRunner([UsersProbe(cfg)], timeout_s=5)
    try:
        (res,) = runner.run_all()
    finally:
        runner.close()
    assert res.status == "ok"
    users = res.data["users"]
    Users.model_validate(users)  # fits the wire model
    assert users["associated"] == 2        # ...:01 and ...:aa (seen on both radios, mixed case)
    assert users["leases"] == 2
    assert users["authenticated"] is None  # no openNDS here
    assert users["total"] == 2             # presence sources only: leases do not add
    assert "wlan2: timeout" in res.detail
    assert "ndsctl: unavailable" in res.detail
    assert "1 malformed" in res.detail
    assert "2 associated, 1 authorized, 1 idle" in res.detail  # the roaming one counts once
    assert radios[2].requests == ["PING"]  # the dead hostapd was cut off after one request


def test_no_source_at_all_is_unavailable_not_failed(tmp_path: Path) -> None:
    cfg = UsersSection(hostapd_ctrl=[str(tmp_path / "none")], dnsmasq_leases=str(tmp_path / "x"),
                       lan_iface="ktp-nonexistent0", ndsctl=None)
    runner = ProbeRunner([UsersProbe(cfg)], timeout_s=5)
    try:
        (res,) = runner.run_all()
    finally:
        runner.close()
    assert res.status == "unavailable"
    assert "leases: unavailable" in res.detail


def test_ndsctl_that_hangs_is_reported_timeout(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setattr(sysexec, "which", lambda name: "/usr/bin/ndsctl")
    prev = sysexec.set_runner(lambda cmd, timeout: sysexec.ExecResult(
        tuple(cmd), None, "", f"timed out after {timeout}s", timed_out=True))
    try:
        leases = tmp_path / "leases"
        leases.write_text("")
        cfg = UsersSection(hostapd_ctrl=[], dnsmasq_leases=str(leases), lan_iface=None)
        data = UsersProbe(cfg).collect()
    finally:
        sysexec.set_runner(prev)
    assert data["users"]["authenticated"] is None and data["users"]["leases"] == 0
    assert "ndsctl: timeout" in data["detail"]
