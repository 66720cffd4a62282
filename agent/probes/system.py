"""Pi health from psutil (CPU, memory, disk, uptime, load); sensors are added by later work."""

from __future__ import annotations

import time
from typing import Any

import psutil


class SystemProbe:
    """CPU, memory, disk, load and uptime via psutil."""

    name = "system"

    def __init__(self, disk_path: str = "/") -> None:
        self.disk_path = disk_path
        psutil.cpu_percent(interval=None)  # prime the CPU counter

    def collect(self) -> dict[str, Any]:
        """One reading of the system figures."""
        return {"system": {
            "cpu_pct": psutil.cpu_percent(interval=None),
            "mem_pct": psutil.virtual_memory().percent,
            "disk_pct": psutil.disk_usage(self.disk_path).percent,
            "uptime_s": int(time.time() - psutil.boot_time()),
            "load1": psutil.getloadavg()[0],
        }}
