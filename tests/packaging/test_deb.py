"""`make deb`: the agent's Debian package is lintian-clean and installs into a real Debian
Trixie root (debootstrap) from Debian's own packages, then checks a provisioned agent.toml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.provisioning.provhelp import make_deployment

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("KOTANET_TEST_CACHE", ROOT / "run" / "cache"))
MIRROR = "http://deb.debian.org/debian"
NODE_DEPENDS = ("python3-paho-mqtt", "python3-pydantic", "python3-psutil", "python3-netifaces",
                "python3-gpiozero", "python3-pyroute2", "python3-cryptography")


def _run(*args: str, timeout: float = 300, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                          check=False, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package, built as `make deb` builds it."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb missing (make deps)")
    out = tmp_path_factory.mktemp("deb")
    res = _run(sys.executable, str(ROOT / "scripts" / "build_deb.py"), "--out", str(out))
    assert res.returncode == 0, res.stderr
    path = Path(res.stdout.strip().splitlines()[-1])
    assert path.is_file() and path.name.endswith("_all.deb")
    return path


def test_package_is_arch_all_with_debian_dependencies_and_only_node_code(deb: Path) -> None:
    field = _run("dpkg-deb", "--field", str(deb), "Architecture", "Depends", "Package").stdout
    assert "Architecture: all" in field and "Package: kotanet-agent" in field
    for dep in NODE_DEPENDS:
        assert dep in field, f"{dep} not in Depends"
    files = _run("dpkg-deb", "--contents", str(deb)).stdout
    for must in ("./usr/bin/kotanet-agent", "./usr/lib/systemd/system/kotanet-agent.service",
                 "./usr/lib/systemd/system/kotanet-enroll.service",
                 "./usr/lib/systemd/system/kotanet-statuspage.service",
                 "./usr/share/kotanet/agent/fieldtools/statuspage.py",
                 "./usr/share/kotanet/agent/cli.py", "./usr/share/kotanet/protocol/codec.py",
                 "./usr/share/kotanet/agent/fieldtools/texts.json",
                 "./usr/share/man/man1/kotanet-agent.1.gz",
                 "./usr/share/doc/kotanet-agent/copyright"):
        assert must in files, must
    for never in ("/central/", "/provisioning/", "/agent/sim/", ".whl", "site-packages"):
        assert never not in files, f"{never} must not ship on a node"


def test_lintian_accepts_the_package(deb: Path) -> None:
    if shutil.which("lintian") is None:
        pytest.skip("lintian missing (make deps)")
    res = _run("lintian", "--fail-on", "error,warning", str(deb))
    assert res.returncode == 0, res.stdout + res.stderr


def _trixie_tarball() -> Path:
    """A minimal Debian Trixie root with python3 (debootstrap once, then cached)."""
    tar = CACHE / "trixie-minbase.tar.gz"
    if tar.is_file():
        return tar
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        pytest.skip("a Trixie root needs root and debootstrap (make deps)")
    CACHE.mkdir(parents=True, exist_ok=True)
    target = CACHE / "trixie-build"
    shutil.rmtree(target, ignore_errors=True)
    res = _run("debootstrap", "--variant=minbase", "--include=python3", "trixie", str(target),
               MIRROR, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    with tarfile.open(f"{tar}.part", "w:gz") as tf:
        tf.add(target, arcname=".")
    os.replace(f"{tar}.part", tar)
    shutil.rmtree(target, ignore_errors=True)
    return tar


@pytest.mark.slow
def test_installs_into_debian_trixie_from_debian_packages_and_checks_a_bundle(
        deb: Path, tmp_path: Path) -> None:
    root = tmp_path / "trixie"
    root.mkdir()
    with tarfile.open(_trixie_tarball()) as tf:
        tf.extractall(root, filter="fully_trusted")
    shutil.copy(deb, root / "tmp" / deb.name)
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8"}
    res = _run("chroot", str(root), "apt-get", "update", "-q", env=env, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    res = _run("chroot", str(root), "apt-get", "install", "-y", "-q", "--no-install-recommends",
               f"/tmp/{deb.name}", env=env, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    fetched = [line for line in res.stdout.splitlines()
               if line.startswith("Get:") and deb.name not in line]
    assert fetched, "the dependencies came from the Debian archive"
    assert all(MIRROR in line and "trixie" in line for line in fetched), fetched[:5]
    # every Python module the agent imports is a Debian package's; pip is not even there
    listed = _run("chroot", str(root), "dpkg-query", "-W", "-f", "${Package}\n", env=env).stdout
    assert set(NODE_DEPENDS) <= set(listed.split())
    assert "python3-pip" not in listed.split()
    assert _run("chroot", str(root), "getent", "passwd", "kotanet", env=env).returncode == 0

    dep = make_deployment(tmp_path / "deployment")
    bundle = dep.root / "bundles" / "nodes" / "tks-02" / "etc" / "kotanet"
    etc = root / "etc" / "kotanet"
    for f in ("agent.toml", "mqtt-password", "ca.crt"):
        shutil.copy(bundle / f, etc / f)
    res = _run("chroot", str(root), "/usr/bin/kotanet-agent", "--config",
               "/etc/kotanet/agent.toml", "--check", env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "ok: node taman-kota-sampit/tks-02" in res.stdout
    # the technician's tools run from the package too (no agent running here: no snapshot)
    res = _run("chroot", str(root), "/usr/bin/kotanet-agent", "status", "--lang", "id", env=env)
    assert res.returncode == 3 and "Agen tidak berjalan" in res.stdout, res.stdout + res.stderr
