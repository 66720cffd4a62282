"""Pi health: CPU, memory, disk, load, uptime (psutil) plus temperature and throttle bits."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import psutil

from agent.probes.pisensors import cpu_temp_c, throttle_state

log = logging.getLogger(__name__)


class SystemProbe:
    """CPU, memory, disk, load, uptime, temperature, under-voltage; every sensor optional."""

    name = "system"

    def __init__(self, disk_path: str = "/", sys_root: str = "/sys",
                 vcgencmd: str | None = "vcgencmd") -> None:
        self.disk_path = disk_path
        self.sys_root = Path(sys_root)
        self.vcgencmd = vcgencmd
        psutil.cpu_percent(interval=None)  # prime the CPU counter

    def collect(self) -> dict[str, Any]:
        """One reading of the system figures; missing sensors are null and named in detail."""
        notes: list[str] = []
        out: dict[str, Any] = {
            "cpu_pct": psutil.cpu_percent(interval=None),
            "mem_pct": psutil.virtual_memory().percent,
            "uptime_s": max(0, int(time.time() - psutil.boot_time())),
            "load1": psutil.getloadavg()[0],
        }
        try:
            out["disk_pct"] = psutil.disk_usage(self.disk_path).percent
        except OSError as exc:
            out["disk_pct"] = None
            notes.append(f"disk {self.disk_path}: unavailable ({exc.strerror})")
        out["temp_c"] = cpu_temp_c(self.sys_root)
        if out["temp_c"] is None:
            notes.append("temperature: unavailable")
        thr = throttle_state(self.sys_root, self.vcgencmd)
        if thr is None:
            notes.append("throttle bits: unavailable")
            out |= {"undervoltage": None, "throttled": None,
                    "undervoltage_since_boot": None, "throttled_since_boot": None}
        else:
            out |= {"undervoltage": thr.undervoltage, "throttled": thr.throttled,
                    "undervoltage_since_boot": thr.undervoltage_since_boot,
                    "throttled_since_boot": thr.throttled_since_boot}
            notes.append(f"throttle bits from {thr.source}")
        return {"system": out, "detail": "; ".join(notes)}
