"""The deployment's flat apt repository (``DIR/apt``): the agent's .deb (and, optionally, the
Debian packages it depends on) with ``Packages``, ``Packages.gz`` and ``Release``.

The same directory goes onto every SD card (``kotanet/apt`` on the boot partition: the first
boot installs the agent from it, no internet needed) and central serves it read-only under
``/apt/`` for upgrades (central.enroll.apt). The index is written here without dpkg tools: a
.deb is an ``ar`` archive whose ``control.tar.{gz,xz}`` holds the ``control`` stanza; each
Packages stanza is that stanza plus ``Filename``, ``Size``, ``MD5sum`` and ``SHA256``, as
``dpkg-scanpackages`` writes it. Signing is not done: the card is trusted like its user-data,
and nodes reach central's copy over HTTPS pinned to the deployment CA (docs/field-guide.md 4).
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import io
import logging
import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

REPO_DIR = "apt"
INDEX_FILES = ("Packages", "Packages.gz", "Release")
#: what a repository file name may look like (central serves nothing else)
FILE_RE = re.compile(r"(?:Packages|Packages\.gz|Release|[A-Za-z0-9][A-Za-z0-9.+~_-]*\.deb)")
_AR_MAGIC = b"!<arch>\n"


class RepoError(ValueError):
    """A file is not a usable Debian package."""


@dataclass(frozen=True)
class DebInfo:
    """One package of the repository."""

    package: str
    version: str
    architecture: str
    stanza: str  # the control stanza (without trailing newline)


def _ar_members(data: bytes) -> dict[str, bytes]:
    if not data.startswith(_AR_MAGIC):
        raise RepoError("not an ar archive")
    pos, out = len(_AR_MAGIC), {}
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise RepoError("damaged ar header") from None
        out[name] = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
    return out


def read_control(deb: Path) -> DebInfo:
    """The control stanza of a .deb (RepoError if it is not one this code can read)."""
    members = _ar_members(deb.read_bytes())
    if members.get("debian-binary", b"").strip() != b"2.0":
        raise RepoError(f"{deb.name}: not a Debian binary package")
    name = next((n for n in members if n.startswith("control.tar")), None)
    if name is None or name.endswith(".zst"):
        raise RepoError(f"{deb.name}: control archive {name or 'missing'} is not gz/xz/plain")
    with tarfile.open(fileobj=io.BytesIO(members[name]), mode="r:*") as tf:
        member = next((m for m in tf.getmembers() if m.name in ("./control", "control")), None)
        fh = tf.extractfile(member) if member else None
        if fh is None:
            raise RepoError(f"{deb.name}: no control file")
        stanza = fh.read().decode("utf-8").strip("\n")
    fields: dict[str, str] = {}
    for line in stanza.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, value = line.split(":", 1)
            fields[key.strip()] = value.strip()
    try:
        return DebInfo(fields["Package"], fields["Version"], fields["Architecture"], stanza)
    except KeyError as exc:
        raise RepoError(f"{deb.name}: control has no {exc.args[0]}") from None


def _stanza(deb: Path, info: DebInfo) -> str:
    data = deb.read_bytes()
    lines = info.stanza.splitlines()
    extra = [f"Filename: ./{deb.name}", f"Size: {len(data)}",
             f"MD5sum: {hashlib.md5(data).hexdigest()}",
             f"SHA256: {hashlib.sha256(data).hexdigest()}"]
    return "\n".join(lines + extra)


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_index(repo: Path, now: float | None = None) -> list[DebInfo]:
    """(Re)write Packages, Packages.gz and Release for every .deb in ``repo``."""
    debs = sorted(repo.glob("*.deb"))
    infos = [read_control(d) for d in debs]
    packages = "\n\n".join(_stanza(d, i) for d, i in zip(debs, infos, strict=True))
    packages_b = (packages + "\n").encode() if packages else b""
    packages_gz = gzip.compress(packages_b, mtime=0)
    archs = sorted({i.architecture for i in infos} | {"all"})
    date = email.utils.formatdate(now, usegmt=True)
    release = ["Origin: kotanet", "Label: kotanet", "Suite: kotanet", "Codename: kotanet",
               f"Date: {date}", f"Architectures: {' '.join(archs)}",
               "Description: kotanet agent and node packages (deployment repository)",
               "MD5Sum:"]
    for name, data in (("Packages", packages_b), ("Packages.gz", packages_gz)):
        release.append(f" {hashlib.md5(data).hexdigest()} {len(data)} {name}")
    release.append("SHA256:")
    for name, data in (("Packages", packages_b), ("Packages.gz", packages_gz)):
        release.append(f" {hashlib.sha256(data).hexdigest()} {len(data)} {name}")
    _atomic(repo / "Packages", packages_b)
    _atomic(repo / "Packages.gz", packages_gz)
    _atomic(repo / "Release", ("\n".join(release) + "\n").encode())
    log.info("apt repository %s: %d package(s)", repo, len(infos))
    return infos


def add_debs(root: Path, debs: list[Path]) -> list[DebInfo]:
    """Copy these .debs into ROOT/apt (replacing older versions of the same package and
    architecture) and rewrite the index. Every file is checked before anything is copied."""
    repo = root / REPO_DIR
    new = [(d, read_control(d)) for d in debs]
    repo.mkdir(parents=True, exist_ok=True)
    replaced = {(i.package, i.architecture) for _, i in new}
    for old in repo.glob("*.deb"):
        info = read_control(old)
        if (info.package, info.architecture) in replaced:
            old.unlink()
    for deb, info in new:  # Debian's pool name, without the epoch (no ':' or '%3a' in URLs)
        version = info.version.split(":", 1)[-1]
        shutil.copyfile(deb, repo / f"{info.package}_{version}_{info.architecture}.deb")
    return write_index(repo)


def has_repo(root: Path) -> bool:
    """True if ROOT/apt holds an index with at least one package."""
    packages = root / REPO_DIR / "Packages"
    return packages.is_file() and packages.stat().st_size > 0


def copy_repo(root: Path, dest: Path) -> int:
    """Copy ROOT/apt (index and packages) to ``dest`` (a card's kotanet/apt); files already
    there and no longer in the repository are removed. Returns the number of packages."""
    repo = root / REPO_DIR
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {p.name for p in repo.iterdir() if FILE_RE.fullmatch(p.name)}
    for old in dest.iterdir():
        if old.is_file() and old.name not in wanted:
            old.unlink()
    for name in sorted(wanted):
        target = dest / name
        target.unlink(missing_ok=True)  # FAT: never keep a stale tail
        shutil.copyfile(repo / name, target)
    return sum(1 for n in wanted if n.endswith(".deb"))
