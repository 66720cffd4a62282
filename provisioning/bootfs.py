"""Guard rails of `sdcard`: the target must be a mounted FAT boot partition, and the card must
give the technician a way in (an SSH public key, never a private one).

The mount table comes from psutil (``/proc/self/mountinfo``); psutil is imported here only.
A Raspberry Pi OS boot partition is FAT32 (kernel ``vfat``/``msdos``; FUSE drivers show as
``fuse.fusefat`` or ``fuse.exfat``); exFAT is accepted for cards formatted by other tools.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import psutil

from provisioning.deployment import DeploymentError

log = logging.getLogger(__name__)

FAT_TYPES = frozenset({"vfat", "msdos", "exfat", "fat", "fuse.fusefat", "fuse.exfat"})
_KEY_LINE = re.compile(r"^(?:(?:sk-)?(?:ssh|ecdsa)-[A-Za-z0-9@.-]+)\s+([A-Za-z0-9+/=]+)(\s.*)?$")


@dataclass(frozen=True)
class Mount:
    """One mounted file system."""

    mountpoint: str
    fstype: str
    device: str
    read_only: bool


def mounts() -> list[Mount]:
    """Every mounted file system (the one seam tests could swap; they use real mounts)."""
    return [Mount(p.mountpoint, p.fstype, p.device, "ro" in p.opts.split(","))
            for p in psutil.disk_partitions(all=True)]


def fat_mounts() -> list[str]:
    """Mount points of every writable FAT file system (candidates for --boot)."""
    return sorted(m.mountpoint for m in mounts() if m.fstype in FAT_TYPES and not m.read_only)


def check_boot(boot: Path) -> Path:
    """The real path of a mounted, writable FAT partition; DeploymentError naming the problem.

    Refuses a path that does not exist, is not itself a mount point (a folder on the laptop's
    own disk, an unmounted card's empty mount folder) or is mounted with another file system.
    """
    candidates = ", ".join(fat_mounts()) or "-"
    if not boot.exists():
        raise DeploymentError("boot_missing", boot=boot, candidates=candidates)
    real = os.path.realpath(boot)
    found = [m for m in mounts() if os.path.realpath(m.mountpoint) == real]
    if not found:
        raise DeploymentError("boot_not_mounted", boot=boot, candidates=candidates)
    top = found[-1]  # the last mount over a path is the one in effect
    if top.fstype not in FAT_TYPES:
        raise DeploymentError("boot_not_fat", boot=boot, fstype=top.fstype,
                              candidates=candidates)
    if top.read_only:
        raise DeploymentError("boot_read_only", boot=boot)
    log.info("boot partition %s: %s on %s", real, top.fstype, top.device)
    return Path(real)


def _key_blob_ok(kind: str, b64: str) -> bool:
    """True if the base64 blob decodes and starts with the key type, as OpenSSH writes it."""
    try:
        blob = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(blob) < 4:
        return False
    (n,) = struct.unpack(">I", blob[:4])
    return blob[4:4 + n].decode("ascii", "replace") == kind


def read_ssh_keys(paths: list[Path]) -> list[str]:
    """The public keys in these files (one or more lines each); DeploymentError if a file is
    missing, empty, not an OpenSSH public key, or a private key."""
    keys: list[str] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            raise DeploymentError("ssh_key_missing", path=path) from None
        if "PRIVATE KEY" in text:
            raise DeploymentError("ssh_key_private", path=path)
        found = 0
        for n, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            match = _KEY_LINE.match(line)
            if match is None or not _key_blob_ok(line.split()[0], match.group(1)):
                raise DeploymentError("ssh_key_bad", path=path, line=n)
            keys.append(line)
            found += 1
        if not found:
            raise DeploymentError("ssh_key_bad", path=path, line=1)
    return keys
