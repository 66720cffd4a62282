"""Raspberry Pi sensors: under-voltage/throttling bits from sysfs, hwmon or vcgencmd."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from agent import sysexec

log = logging.getLogger(__name__)

# get_throttled bits (Raspberry Pi firmware): 0-3 now, 16-19 since boot.
UNDERVOLT_NOW, CAPPED_NOW, THROTTLED_NOW, SOFTTEMP_NOW = 0x1, 0x2, 0x4, 0x8
UNDERVOLT_BOOT, CAPPED_BOOT, THROTTLED_BOOT, SOFTTEMP_BOOT = 0x10000, 0x20000, 0x40000, 0x80000
THROTTLED_FILE = "devices/platform/soc/soc:firmware/get_throttled"


@dataclass(frozen=True)
class PiThrottle:
    """Decoded throttling state; ``source`` says where it came from."""

    undervoltage: bool | None
    throttled: bool | None
    undervoltage_since_boot: bool | None
    throttled_since_boot: bool | None
    source: str


def decode_throttled(value: int, source: str) -> PiThrottle:
    """Decode the firmware's get_throttled bit field."""
    return PiThrottle(
        undervoltage=bool(value & UNDERVOLT_NOW),
        throttled=bool(value & (CAPPED_NOW | THROTTLED_NOW | SOFTTEMP_NOW)),
        undervoltage_since_boot=bool(value & UNDERVOLT_BOOT),
        throttled_since_boot=bool(value & (CAPPED_BOOT | THROTTLED_BOOT | SOFTTEMP_BOOT)),
        source=source,
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _hwmon_undervolt(sys_root: Path) -> bool | None:
    for mon in sorted((sys_root / "class" / "hwmon").glob("hwmon*")):
        if _read(mon / "name") == "rpi_volt":
            alarm = _read(mon / "in0_lcrit_alarm")
            return None if alarm is None else alarm == "1"
    return None


def throttle_state(sys_root: Path, vcgencmd: str | None = "vcgencmd") -> PiThrottle | None:
    """Throttle bits from sysfs, else the hwmon alarm, else ``vcgencmd``; None when absent."""
    raw = _read(sys_root / THROTTLED_FILE)
    if raw is not None:
        try:
            return decode_throttled(int(raw, 16), "sysfs")
        except ValueError:
            log.warning("unparsable %s: %r", THROTTLED_FILE, raw)
    alarm = _hwmon_undervolt(sys_root)
    if alarm is not None:
        return PiThrottle(alarm, None, None, None, "hwmon")
    exe = sysexec.which(vcgencmd) if vcgencmd else None
    if exe is None:
        return None
    res = sysexec.run([exe, "get_throttled"], timeout=2.0)
    match = re.search(r"throttled=(0x[0-9a-fA-F]+)", res.stdout) if res.ok else None
    return decode_throttled(int(match.group(1), 16), "vcgencmd") if match else None
