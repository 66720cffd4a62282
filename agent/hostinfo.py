"""The agent's one psutil user: host figures and NIC counters, each None when unavailable."""

from __future__ import annotations

import logging
import time
from functools import cache
from typing import Any

log = logging.getLogger(__name__)

# Temperature sensors in order of preference (Pi, Intel, AMD, generic ACPI).
PREFERRED_TEMPS = ("cpu_thermal", "cpu-thermal", "coretemp", "k10temp", "x86_pkg_temp",
                   "soc_thermal", "acpitz")


@cache
def _psutil() -> Any:
    """psutil, imported on first use (the status page process never needs it)."""
    import psutil
    return psutil


def cpu_pct() -> float | None:
    """CPU busy percent since the previous call (the first call in a process only primes)."""
    return round(float(_psutil().cpu_percent(interval=None)), 1)


def mem_pct() -> float | None:
    """Used memory in percent (total minus available)."""
    return round(float(_psutil().virtual_memory().percent), 1)


def disk_pct(path: str) -> float | None:
    """Used space of the filesystem at ``path`` in percent (as df shows it)."""
    return round(float(_psutil().disk_usage(path).percent), 1)


def load1() -> float | None:
    """One-minute load average."""
    return round(float(_psutil().getloadavg()[0]), 2)


def uptime_s() -> int | None:
    """Seconds since boot."""
    return max(0, int(time.time() - float(_psutil().boot_time())))


def temp_c() -> float | None:
    """CPU temperature in deg C from the preferred sensor the kernel exposes, else None."""
    fn = getattr(_psutil(), "sensors_temperatures", None)
    groups: dict[str, list[Any]] = fn() if fn is not None else {}
    ranked = [(PREFERRED_TEMPS.index(name) if name in PREFERRED_TEMPS else len(PREFERRED_TEMPS),
               entries[0].current) for name, entries in groups.items() if entries]
    return round(float(min(ranked)[1]), 1) if ranked else None


def nic_counters(ifname: str) -> dict[str, int] | None:
    """Byte, error and drop counters of one interface; None when it has none."""
    c = _psutil().net_io_counters(pernic=True).get(ifname)
    if c is None:
        return None
    return {"rx_bytes": c.bytes_recv, "tx_bytes": c.bytes_sent, "rx_errors": c.errin,
            "tx_errors": c.errout, "rx_dropped": c.dropin, "tx_dropped": c.dropout}
