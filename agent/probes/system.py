"""Pi health: CPU, memory, disk, load, uptime and temperature (psutil through agent.hostinfo)
and under-voltage/throttle bits (agent.probes.pisensors); every sensor optional.

Temperature and throttle bits are slow sensors with a costly read (psutil walks every hwmon
and thermal zone; without the sysfs file the bits cost a ``vcgencmd`` process): they are read
every ``slow_every_s`` and reused in between; the cheap figures are read every sample."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent import hostinfo
from agent.clock import Clock, monotonic
from agent.probes.pisensors import PiThrottle, throttle_state

log = logging.getLogger(__name__)

SLOW_EVERY_S = 30.0  # temperature and throttle bits: re-read at most this often


def reading(name: str, fn: Callable[[], Any]) -> Any:
    """One sensor reading; None (unavailable) when its source is missing or fails."""
    try:
        return fn()
    except Exception as exc:  # ImportError, OSError, AttributeError...: never a crash
        log.debug("sensor %s unavailable: %r", name, exc)
        return None


class SystemProbe:
    """CPU, memory, disk, load, uptime, temperature, under-voltage; every sensor optional."""

    name = "system"

    def __init__(self, disk_path: str = "/", sys_root: str = "/sys",
                 vcgencmd: str | None = "vcgencmd", slow_every_s: float = SLOW_EVERY_S,
                 clock: Clock = monotonic) -> None:
        self.disk_path = disk_path
        self.sys_root = Path(sys_root)
        self.vcgencmd = vcgencmd
        self.slow_every_s = slow_every_s
        self.clock = clock
        self._slow: tuple[float, float | None, PiThrottle | None] | None = None
        reading("cpu_pct", hostinfo.cpu_pct)  # primes psutil's CPU counter for the first sample

    def _slow_sensors(self) -> tuple[float | None, PiThrottle | None]:
        """Temperature and throttle bits, re-read only every ``slow_every_s``."""
        now = self.clock()
        if self._slow is None or now - self._slow[0] >= self.slow_every_s:
            thr = reading("throttle", lambda: throttle_state(self.sys_root, self.vcgencmd))
            self._slow = (now, reading("temp_c", hostinfo.temp_c), thr)
        return self._slow[1], self._slow[2]

    def collect(self) -> dict[str, Any]:
        """One reading of the system figures; missing sensors are null and named in detail."""
        out: dict[str, Any] = {
            "cpu_pct": reading("cpu_pct", hostinfo.cpu_pct),
            "mem_pct": reading("mem_pct", hostinfo.mem_pct),
            "disk_pct": reading("disk_pct", lambda: hostinfo.disk_pct(self.disk_path)),
            "uptime_s": reading("uptime_s", hostinfo.uptime_s),
            "load1": reading("load1", hostinfo.load1)}
        out["temp_c"], thr = self._slow_sensors()
        notes = [f"{k}: unavailable" for k in ("cpu_pct", "mem_pct", "disk_pct", "uptime_s",
                                                "load1") if out[k] is None]
        if out["temp_c"] is None:
            notes.append("temperature: unavailable")
        if thr is None:
            notes.append("throttle bits: unavailable")
        else:
            notes.append(f"throttle bits from {thr.source}")
        out |= {"undervoltage": thr and thr.undervoltage, "throttled": thr and thr.throttled,
                "undervoltage_since_boot": thr and thr.undervoltage_since_boot,
                "throttled_since_boot": thr and thr.throttled_since_boot}
        return {"system": out, "detail": "; ".join(notes)}
