"""A real FAT boot partition for `sdcard` tests: an image made by mkfs.vfat (dosfstools),
mounted read-write with fusefat (FUSE; this kernel has no vfat module for a loop mount), so
/proc/self/mountinfo shows it as `fuse.fusefat` exactly as a technician's laptop would show a
mounted card. Unmounted (fusermount -u, bounded) when the block ends."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

TOOLS = ("mkfs.vfat", "fusefat", "fusermount")


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:  # never skip: a missing package is a set-up error (make deps)
        pytest.fail(f"{name} not found: install dosfstools and fusefat (make deps)", pytrace=False)
    return path


def is_mounted(path: Path) -> bool:
    """True if path is a mount point in this process's mount table."""
    target = str(path.resolve())
    return any(line.split()[4] == target
               for line in Path("/proc/self/mountinfo").read_text().splitlines())


class FatCard:
    """`with FatCard(tmp) as boot:` a mounted FAT boot partition, optionally with files."""

    def __init__(self, where: Path, files: dict[str, str] | None = None,
                 size_mb: int = 16) -> None:
        self.image = where / "card.img"
        self.mount = where / "bootfs"
        self.files = {"cmdline.txt": "console=tty1 root=PARTUUID=00000000-02\n",
                      "config.txt": "dtparam=audio=on\n"} if files is None else files
        self.size_mb = size_mb

    def __enter__(self) -> Path:
        self.mount.mkdir(parents=True, exist_ok=True)
        with self.image.open("wb") as fh:
            fh.truncate(self.size_mb * 1024 * 1024)
        subprocess.run([_tool("mkfs.vfat"), "-F", "32", str(self.image)],
                       check=True, capture_output=True, timeout=30)
        subprocess.run([_tool("fusefat"), "-o", "rw+", str(self.image), str(self.mount)],
                       check=True, capture_output=True, timeout=30)
        deadline = time.monotonic() + 10
        while not is_mounted(self.mount):
            assert time.monotonic() < deadline, "fusefat did not mount the card image"
            time.sleep(0.05)
        for name, text in self.files.items():
            (self.mount / name).write_text(text)
        return self.mount

    def __exit__(self, *exc: object) -> None:
        deadline = time.monotonic() + 10
        while is_mounted(self.mount):
            subprocess.run([_tool("fusermount"), "-u", str(self.mount)], capture_output=True,
                           timeout=30, check=False)
            if time.monotonic() > deadline:
                subprocess.run([_tool("fusermount"), "-u", "-z", str(self.mount)],
                               capture_output=True, timeout=30, check=False)
                break
            time.sleep(0.05)


def files_on(boot: Path) -> dict[str, str]:
    """Every file on a mounted partition, as text (for assertions)."""
    return {str(p.relative_to(boot)): p.read_text(errors="replace")
            for p in sorted(boot.rglob("*")) if p.is_file()}


def ssh_public_key(where: Path, name: str = "id_ed25519") -> Path:
    """A fresh OpenSSH Ed25519 key pair in where; returns the .pub file (the private key lies
    next to it, as ssh-keygen leaves it)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    where.mkdir(parents=True, exist_ok=True)
    (where / name).write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                 serialization.PrivateFormat.OpenSSH,
                                                 serialization.NoEncryption()))
    pub = where / f"{name}.pub"
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                  serialization.PublicFormat.OpenSSH)
                    + b" teknisi@laptop\n")
    return pub
