"""Pi health: CPU, memory, disk, load, uptime (from /proc, no extra imports), temperature and
under-voltage/throttle bits (sysfs or vcgencmd); every sensor optional."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from agent.probes.pisensors import cpu_temp_c, throttle_state

log = logging.getLogger(__name__)


def _cpu_times(proc: Path) -> tuple[int, int] | None:
    """(busy, total) jiffies from the aggregate line of /proc/stat."""
    try:
        with open(proc / "stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user/nice
    return total - idle, total


def mem_pct(proc: Path) -> float | None:
    """Used memory in percent: 100 * (MemTotal - MemAvailable) / MemTotal."""
    try:
        info = {k: int(v.split()[0]) for k, _, v in
                (line.partition(":") for line in (proc / "meminfo").read_text().splitlines())
                if v.strip()}
        return round(100.0 * (info["MemTotal"] - info["MemAvailable"]) / info["MemTotal"], 1)
    except (OSError, KeyError, ValueError, ZeroDivisionError):
        return None


def disk_pct(path: str) -> float | None:
    """Used space of the filesystem at ``path`` in percent (as df shows it)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    avail = st.f_bavail * st.f_frsize
    return round(100.0 * used / (used + avail), 1) if used + avail else None


class SystemProbe:
    """CPU, memory, disk, load, uptime, temperature, under-voltage; every sensor optional."""

    name = "system"

    def __init__(self, disk_path: str = "/", sys_root: str = "/sys", proc_root: str = "/proc",
                 vcgencmd: str | None = "vcgencmd") -> None:
        self.disk_path = disk_path
        self.sys_root = Path(sys_root)
        self.proc = Path(proc_root)
        self.vcgencmd = vcgencmd
        self._cpu_prev = _cpu_times(self.proc)

    def _cpu_pct(self) -> float | None:
        cur, prev = _cpu_times(self.proc), self._cpu_prev
        self._cpu_prev = cur
        if cur is None or prev is None or cur[1] <= prev[1]:
            return None
        return round(100.0 * (cur[0] - prev[0]) / (cur[1] - prev[1]), 1)

    def collect(self) -> dict[str, Any]:
        """One reading of the system figures; missing sensors are null and named in detail."""
        try:
            uptime: int | None = int(float((self.proc / "uptime").read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            uptime = None
        out: dict[str, Any] = {"cpu_pct": self._cpu_pct(), "mem_pct": mem_pct(self.proc),
                               "disk_pct": disk_pct(self.disk_path), "uptime_s": uptime,
                               "load1": round(os.getloadavg()[0], 2),
                               "temp_c": cpu_temp_c(self.sys_root)}
        notes = [f"{k}: unavailable" for k in ("cpu_pct", "mem_pct", "disk_pct", "uptime_s")
                 if out[k] is None]
        if out["temp_c"] is None:
            notes.append("temperature: unavailable")
        thr = throttle_state(self.sys_root, self.vcgencmd)
        if thr is None:
            notes.append("throttle bits: unavailable")
        else:
            notes.append(f"throttle bits from {thr.source}")
        out |= {"undervoltage": thr and thr.undervoltage, "throttled": thr and thr.throttled,
                "undervoltage_since_boot": thr and thr.undervoltage_since_boot,
                "throttled_since_boot": thr and thr.throttled_since_boot}
        return {"system": out, "detail": "; ".join(notes)}
