"""System probe: real psutil readings, each source missing, throttle bits, vcgencmd fallback."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent import hostinfo, sysexec
from agent.probes.base import ProbeRunner
from agent.probes.pisensors import THROTTLED_FILE, decode_throttled
from agent.probes.system import SystemProbe
from protocol.messages import SystemHealth


def make_sys(root: Path, throttled: str | None = None) -> Path:
    """A sysfs tree with only the throttle file a Pi would have."""
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


def fake_psutil(monkeypatch: pytest.MonkeyPatch, **attrs: Any) -> None:
    """Replace psutil behind agent.hostinfo with a namespace of the given functions."""
    monkeypatch.setattr(hostinfo, "_psutil", lambda: SimpleNamespace(**attrs))


def test_real_psutil_readings_are_sane() -> None:
    probe = SystemProbe(vcgencmd=None)
    status, sysd, detail = run(probe)
    assert status == "ok", detail
    for key in ("cpu_pct", "mem_pct", "disk_pct"):
        assert isinstance(sysd[key], float) and 0.0 <= sysd[key] <= 100.0, (key, sysd[key])
    assert isinstance(sysd["uptime_s"], int) and sysd["uptime_s"] > 0
    assert isinstance(sysd["load1"], float) and sysd["load1"] >= 0.0
    assert sysd["temp_c"] is None or -40.0 < float(sysd["temp_c"]) < 150.0  # type: ignore[arg-type]
    SystemHealth.model_validate(sysd)


def test_pi_sensors_from_sysfs_and_psutil_temperature(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def temp(label: str, value: float) -> SimpleNamespace:
        return SimpleNamespace(label=label, current=value)
    monkeypatch.setattr(hostinfo, "_psutil", lambda: SimpleNamespace(sensors_temperatures=lambda: {
        "gpu_thermal": [temp("", 30.0)], "cpu_thermal": [temp("", 61.234)]}))
    root = make_sys(tmp_path / "sys", throttled="50000")
    status, sysd, _ = run(SystemProbe(sys_root=str(root), vcgencmd=None))
    assert status == "ok"
    assert sysd["temp_c"] == pytest.approx(61.2)  # the CPU sensor, not the GPU one
    assert sysd["undervoltage"] is False and sysd["undervoltage_since_boot"] is True
    assert sysd["throttled"] is False and sysd["throttled_since_boot"] is True
    assert sysd["cpu_pct"] is None and sysd["mem_pct"] is None  # not in this fake psutil
    SystemHealth.model_validate(sysd)  # fits the wire model


@pytest.mark.parametrize("source,field,note", [
    ("cpu_pct", "cpu_pct", "cpu_pct: unavailable"),
    ("mem_pct", "mem_pct", "mem_pct: unavailable"),
    ("disk_pct", "disk_pct", "disk_pct: unavailable"),
    ("load1", "load1", "load1: unavailable"),
    ("uptime_s", "uptime_s", "uptime_s: unavailable"),
    ("temp_c", "temp_c", "temperature: unavailable")])
def test_each_source_missing_is_unavailable(source: str, field: str, note: str,
                                            monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    def gone(*_a: object) -> None:
        raise OSError(2, "no such sensor")
    monkeypatch.setattr(hostinfo, source, gone)
    status, sysd, detail = run(SystemProbe(sys_root=str(tmp_path), vcgencmd=None))
    assert status == "ok" and sysd[field] is None and note in detail
    others = {"cpu_pct", "mem_pct", "disk_pct", "load1", "uptime_s"} - {field}
    assert all(sysd[k] is not None for k in others), sysd


def test_no_psutil_at_all_is_unavailable_not_a_crash(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> Any:
        raise ImportError("No module named 'psutil'")
    monkeypatch.setattr(hostinfo, "_psutil", missing)
    status, sysd, detail = run(SystemProbe(sys_root=str(tmp_path), vcgencmd=None))
    assert status == "ok"
    assert all(sysd[k] is None for k in ("cpu_pct", "mem_pct", "disk_pct", "uptime_s", "load1",
                                         "temp_c", "undervoltage"))
    assert "cpu_pct: unavailable" in detail and "temperature: unavailable" in detail
    SystemHealth.model_validate(sysd)


def test_missing_sensors_are_null_and_named(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fake_psutil(monkeypatch, sensors_temperatures=dict)  # the kernel exposes no sensor
    root = make_sys(tmp_path / "sys")
    status, sysd, detail = run(SystemProbe(sys_root=str(root), vcgencmd="ktp-no-such-vcgencmd",
                                           disk_path=str(tmp_path / "gone")))
    assert status == "ok"
    assert sysd["temp_c"] is None and sysd["undervoltage"] is None and sysd["disk_pct"] is None
    assert "temperature: unavailable" in detail and "throttle bits: unavailable" in detail
    assert "disk_pct: unavailable" in detail


def test_psutil_cpu_counter_primed_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[object] = []

    def cpu_percent(interval: object) -> float:
        calls.append(interval)
        return 60.0
    fake_psutil(monkeypatch, cpu_percent=cpu_percent)
    probe = SystemProbe(sys_root=str(tmp_path), vcgencmd=None)
    status, sysd, _ = run(probe)
    assert calls == [None, None]  # never blocks: interval=None, primed in __init__
    assert status == "ok" and sysd["cpu_pct"] == 60.0


def test_vcgencmd_fallback_through_sysexec(tmp_path: Path, no_vcgencmd: list[Sequence[str]],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sysexec, "which", lambda name: f"/usr/bin/{name}")
    root = make_sys(tmp_path / "sys")
    status, sysd, detail = run(SystemProbe(sys_root=str(root)))
    assert no_vcgencmd == [("/usr/bin/vcgencmd", "get_throttled")]
    assert sysd["undervoltage"] is True and sysd["throttled"] is True
    assert "vcgencmd" in detail


def test_throttle_bits_decode() -> None:
    t = decode_throttled(0x0, "x")
    assert not (t.undervoltage or t.throttled or t.undervoltage_since_boot or t.throttled_since_boot)
    t = decode_throttled(0x80008, "x")  # soft temperature limit now and since boot
    assert t.throttled and t.throttled_since_boot and not t.undervoltage


def test_slow_sensors_are_read_every_slow_interval_only(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    walks: list[int] = []

    def sensors_temperatures() -> dict[str, list[SimpleNamespace]]:
        walks.append(1)  # psutil walks every hwmon and thermal zone here
        return {"cpu_thermal": [SimpleNamespace(label="", current=40.0 + len(walks))]}
    loads: list[int] = []

    def getloadavg() -> tuple[float, float, float]:
        loads.append(1)
        return (0.5, 0.4, 0.3)
    fake_psutil(monkeypatch, sensors_temperatures=sensors_temperatures, getloadavg=getloadavg)
    root = make_sys(tmp_path / "sys", throttled="0")
    now = [100.0]
    probe = SystemProbe(sys_root=str(root), vcgencmd=None, slow_every_s=30.0,
                        clock=lambda: now[0])
    temps = []
    for _ in range(7):  # one sample every 10 s for 60 s
        status, sysd, _ = run(probe)
        assert status == "ok" and sysd["undervoltage"] is False
        temps.append(sysd["temp_c"])
        now[0] += 10.0
    assert len(loads) == 7  # the cheap figures: every sample
    assert len(walks) == 3  # the sensor walk: at 0 s, 30 s and 60 s only
    assert temps == [41.0, 41.0, 41.0, 42.0, 42.0, 42.0, 43.0]
    (root / THROTTLED_FILE).write_text("1\n")  # under-voltage now: seen at the next slow read
    now[0] += 30.0
    assert run(probe)[1]["undervoltage"] is True


def test_psutil_without_sensors_temperatures_is_unavailable(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """psutil builds without the function (BSDs, macOS) or a walk that fails: null, no crash."""
    fake_psutil(monkeypatch, cpu_percent=lambda interval: 5.0)  # no sensors_temperatures at all
    status, sysd, detail = run(SystemProbe(sys_root=str(tmp_path), vcgencmd=None))
    assert status == "ok" and sysd["temp_c"] is None and sysd["cpu_pct"] == 5.0
    assert "temperature: unavailable" in detail

    def walk_fails() -> dict[str, Any]:
        raise PermissionError(13, "hwmon unreadable")
    fake_psutil(monkeypatch, cpu_percent=lambda interval: 5.0, sensors_temperatures=walk_fails)
    status, sysd, detail = run(SystemProbe(sys_root=str(tmp_path), vcgencmd=None))
    assert status == "ok" and sysd["temp_c"] is None and "temperature: unavailable" in detail
