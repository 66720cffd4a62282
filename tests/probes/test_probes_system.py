"""System probe: sysfs temperature and throttle bits, vcgencmd fallback, missing sensors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from agent import sysexec
from agent.probes.base import ProbeRunner
from agent.probes.pisensors import THROTTLED_FILE, decode_throttled
from agent.probes.system import SystemProbe
from protocol.messages import SystemHealth


def make_sys(root: Path, throttled: str | None = None, temp_milli: int | None = None) -> Path:
    """A sysfs tree with only the files a Pi would have."""
    if temp_milli is not None:
        for i, (kind, val) in enumerate([("gpu-thermal", 30000), ("cpu-thermal", temp_milli)]):
            zone = root / "class" / "thermal" / f"thermal_zone{i}"
            zone.mkdir(parents=True)
            (zone / "type").write_text(kind + "\n")
            (zone / "temp").write_text(f"{val}\n")
    if throttled is not None:
        f = root / THROTTLED_FILE
        f.parent.mkdir(parents=True)
        f.write_text(throttled + "\n")
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture
def no_vcgencmd() -> Iterator[list[Sequence[str]]]:
    calls: list[Sequence[str]] = []

    def runner(cmd: Sequence[str], timeout: float) -> sysexec.ExecResult:
        calls.append(tuple(cmd))
        return sysexec.ExecResult(tuple(cmd), 0, "throttled=0x50005\n")
    prev = sysexec.set_runner(runner)
    try:
        yield calls
    finally:
        sysexec.set_runner(prev)


def run(probe: SystemProbe) -> tuple[str, dict[str, object], str]:
    runner = ProbeRunner([probe], timeout_s=5)
    try:
        (res,) = runner.run_all()
    finally:
        runner.close()
    return res.status, res.data.get("system", {}), res.detail


def test_pi_sensors_from_sysfs(tmp_path: Path) -> None:
    root = make_sys(tmp_path / "sys", throttled="50000", temp_milli=61234)
    status, sysd, _ = run(SystemProbe(sys_root=str(root), vcgencmd=None))
    assert status == "ok"
    assert sysd["temp_c"] == pytest.approx(61.234)  # the CPU zone, not the GPU one
    assert sysd["undervoltage"] is False and sysd["undervoltage_since_boot"] is True
    assert sysd["throttled"] is False and sysd["throttled_since_boot"] is True
    SystemHealth.model_validate(sysd)  # fits the wire model


def test_missing_sensors_are_null_and_named(tmp_path: Path) -> None:
    root = make_sys(tmp_path / "sys")
    status, sysd, detail = run(SystemProbe(sys_root=str(root), vcgencmd="ktp-no-such-vcgencmd",
                                           disk_path=str(tmp_path / "gone")))
    assert status == "ok"
    assert sysd["temp_c"] is None and sysd["undervoltage"] is None and sysd["disk_pct"] is None
    assert sysd["mem_pct"] is not None and sysd["uptime_s"] is not None
    assert "temperature: unavailable" in detail and "throttle bits: unavailable" in detail
    assert "disk_pct: unavailable" in detail


def test_cpu_mem_uptime_from_proc_and_absent_proc(tmp_path: Path) -> None:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "stat").write_text("cpu  100 0 100 800 0 0 0 0 0 0\n")
    (proc / "meminfo").write_text("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\n")
    (proc / "uptime").write_text("12345.67 20000.00\n")
    probe = SystemProbe(sys_root=str(tmp_path), proc_root=str(proc), vcgencmd=None)
    (proc / "stat").write_text("cpu  130 0 130 840 0 0 0 0 0 0\n")  # 60 busy of 100 jiffies
    status, sysd, _ = run(probe)
    assert status == "ok"
    assert sysd["cpu_pct"] == 60.0 and sysd["mem_pct"] == 75.0 and sysd["uptime_s"] == 12345
    status, sysd, detail = run(SystemProbe(sys_root=str(tmp_path), proc_root=str(tmp_path / "x"),
                                           vcgencmd=None))
    assert status == "ok" and sysd["cpu_pct"] is None and sysd["mem_pct"] is None
    assert "cpu_pct: unavailable" in detail and "uptime_s: unavailable" in detail


def test_vcgencmd_fallback_through_sysexec(tmp_path: Path, no_vcgencmd: list[Sequence[str]],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sysexec, "which", lambda name: f"/usr/bin/{name}")
    root = make_sys(tmp_path / "sys", temp_milli=45000)
    status, sysd, detail = run(SystemProbe(sys_root=str(root)))
    assert no_vcgencmd == [("/usr/bin/vcgencmd", "get_throttled")]
    assert sysd["undervoltage"] is True and sysd["throttled"] is True
    assert "vcgencmd" in detail


def test_throttle_bits_decode() -> None:
    t = decode_throttled(0x0, "x")
    assert not (t.undervoltage or t.throttled or t.undervoltage_since_boot or t.throttled_since_boot)
    t = decode_throttled(0x80008, "x")  # soft temperature limit now and since boot
    assert t.throttled and t.throttled_since_boot and not t.undervoltage
