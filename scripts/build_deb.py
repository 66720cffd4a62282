#!/usr/bin/env python3
"""`make deb`: the agent's Debian package (Architecture: all) built from the project's wheel.

The wheel is built with pip, then only the node's code (``protocol/`` and ``agent/`` without
the simulator) is laid out under /usr/share/kotanet, with /usr/bin/kotanet-agent, the systemd
units, the man page, copyright and changelog; its Python dependencies are Debian's python3-*
packages (``packaging/deb/control.in``), never bundled. Prints the path of the .deb.
"""

from __future__ import annotations

import argparse
import email.utils
import gzip
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "packaging" / "deb"
PKG = "kotanet-agent"
LIBDIR = "usr/share/kotanet"
#: Top-level packages of the wheel that run on a node; agent/sim is developer tooling.
NODE_PACKAGES = ("protocol", "agent")
EXCLUDE = ("agent/sim/",)
LAUNCHER = """#!/usr/bin/python3
# kotanet-agent launcher (Debian package): the agent's modules live in /usr/share/kotanet
import sys

sys.path.insert(0, "/usr/share/kotanet")
from agent.cli import main  # noqa: E402

sys.exit(main())
"""


def version() -> str:
    """The project version from pyproject.toml."""
    import tomllib

    return str(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"])


def build_wheel(out: Path) -> Path:
    """pip wheel of the project (no dependencies) into ``out``; returns the wheel's path."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("kotanet-*.whl"):
        old.unlink()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                    "--disable-pip-version-check", "-w", str(out), str(ROOT)], check=True)
    return next(out.glob("kotanet-*.whl"))


def _install(src: bytes | str | Path, dest: Path, mode: int) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(src, Path):
        shutil.copyfile(src, dest)
    else:
        dest.write_bytes(src.encode() if isinstance(src, str) else src)
    dest.chmod(mode)


def _gzip(data: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0,
                                               filename="") as gz:
        gz.write(data)
    dest.chmod(0o644)


def _changelog(ver: str) -> bytes:
    date = email.utils.format_datetime(email.utils.localtime().replace(microsecond=0))
    return (f"{PKG} ({ver}) unstable; urgency=medium\n\n"
            f"  * Agent package built from the kotanet wheel {ver}.\n\n"
            f" -- kotanet developers <kotanet@kotimkab.go.id>  {date}\n").encode()


def lay_out(wheel: Path, root: Path, ver: str) -> None:
    """Fill the package's file tree under ``root`` (DEBIAN/ included)."""
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if (name.split("/")[0] in NODE_PACKAGES and not name.startswith(EXCLUDE)
                    and name.endswith((".py", ".json"))):
                _install(zf.read(name), root / LIBDIR / name, 0o644)
    _install(LAUNCHER, root / "usr/bin/kotanet-agent", 0o755)
    for unit in ("kotanet-agent.service", "kotanet-enroll.service", "kotanet-statuspage.service"):
        _install(SRC / unit, root / "usr/lib/systemd/system" / unit, 0o644)
    _gzip((SRC / "kotanet-agent.1").read_bytes(), root / "usr/share/man/man1/kotanet-agent.1.gz")
    doc = root / "usr/share/doc" / PKG
    _install(SRC / "copyright", doc / "copyright", 0o644)
    _gzip(_changelog(ver), doc / "changelog.gz")  # a native package
    size_kib = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) // 1024 + 1
    control = (SRC / "control.in").read_text().replace("@VERSION@", ver)
    _install(control.replace("@SIZE@", str(size_kib)), root / "DEBIAN/control", 0o644)
    for script in ("postinst", "prerm", "postrm"):
        _install(SRC / script, root / "DEBIAN" / script, 0o755)
    sums = [f"{hashlib.md5(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}"
            for p in sorted(root.rglob("*")) if p.is_file() and "DEBIAN" not in p.parts]
    _install("\n".join(sums) + "\n", root / "DEBIAN/md5sums", 0o644)


def build(out: Path) -> Path:
    """Build the .deb into ``out``; returns its path."""
    ver = version()
    wheel = build_wheel(out / "wheel")
    deb = out / f"{PKG}_{ver}_all.deb"
    with tempfile.TemporaryDirectory(prefix="kotanet-deb-") as tmp:
        root = Path(tmp) / PKG
        lay_out(wheel, root, ver)
        subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root),
                        str(deb)], check=True, stdout=subprocess.DEVNULL)
    return deb


def main(argv: list[str] | None = None) -> int:
    """Command line: build the package and print its path."""
    p = argparse.ArgumentParser(description="Build the kotanet-agent Debian package "
                                "(Architecture: all) from the project's wheel.")
    p.add_argument("--out", type=Path, default=ROOT / "run" / "deb",
                   help="output folder (default run/deb)")
    args = p.parse_args(argv)
    if shutil.which("dpkg-deb") is None:
        print("build_deb: dpkg-deb is missing (apt-get install dpkg-dev, or make deps)",
              file=sys.stderr)
        return 2
    print(build(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
