"""The agent software from the card: `kotanet-provision repo` puts the package (and the Debian
packages it needs) into the deployment's flat apt repository, `sdcard` copies it onto a real FAT
card with the first-boot installer, and that installer, run as cloud-init runs it in a Debian
Trixie root with NO network at all (a fresh network namespace), installs kotanet-agent from the
card's file: repository; afterwards apt upgrades come from central's /apt/ over HTTPS pinned to
the deployment CA."""

# ruff: noqa: E402

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
for _p in (str(_ROOT / "tests" / "enroll"), str(_ROOT / "tests" / "provisioning"), str(_ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)


import shutil
import tarfile

import pytest
import yaml
from cardhelp import FatCard
from enrollhelp import HttpsServer
from provhelp import make_deployment

from central.enroll import setup_enroll
from provisioning.aptrepo import read_control
from provisioning.cli import main as provision
from provisioning.localbroker import free_port
from tests.packaging.test_deb import CACHE, _run, _trixie_tarball

NODE = "tks-02"
ENV = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
       "LANG": "C.UTF-8"}
TRIXIE_ISSUE = "Raspberry Pi reference 2025-10-01\nGenerated using pi-gen, trixie\n"


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package, built as `make deb` builds it."""
    out = tmp_path_factory.mktemp("deb")
    res = _run(sys.executable, str(_ROOT / "scripts" / "build_deb.py"), "--out", str(out))
    assert res.returncode == 0, res.stderr
    return Path(res.stdout.strip().splitlines()[-1])


def _root(dest: Path) -> Path:
    dest.mkdir()
    with tarfile.open(_trixie_tarball()) as tf:
        tf.extractall(dest, filter="fully_trusted")
    return dest


def _dependency_debs(deb: Path, tmp: Path) -> list[Path]:
    """The Debian packages kotanet-agent needs beyond a minimal Trixie (downloaded once from the
    Debian archive, as the NOC would, then cached by the package's Depends line)."""
    depends = read_control(deb).stanza
    cache = CACHE / "card-debs"
    stamp = cache / "depends.txt"
    if stamp.is_file() and stamp.read_text() == depends:
        return sorted(cache.glob("*.deb"))
    root = _root(tmp / "download-root")
    shutil.copy(deb, root / "tmp" / deb.name)
    archives = root / "var/cache/apt/archives"
    for leftover in archives.glob("*.deb"):  # debootstrap's own downloads
        leftover.unlink()
    res = _run("chroot", str(root), "apt-get", "update", "-q", env=ENV, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    res = _run("chroot", str(root), "apt-get", "install", "--download-only", "-y", "-q",
               "--no-install-recommends", f"/tmp/{deb.name}", env=ENV, timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    for f in archives.glob("*.deb"):
        shutil.copy(f, cache / f.name)
    stamp.write_text(depends)
    shutil.rmtree(root, ignore_errors=True)
    return sorted(cache.glob("*.deb"))


def test_repo_index_matches_dpkg_scanpackages(deb: Path, tmp_path: Path) -> None:
    dep = make_deployment(tmp_path, build=False)
    assert provision(["--lang", "en", "-d", str(dep.root), "repo", str(deb)]) == 0
    ours = (dep.root / "apt" / "Packages").read_text()
    theirs = _run("dpkg-scanpackages", "--multiversion", ".", cwd=dep.root / "apt").stdout

    def fields(text: str) -> dict[str, str]:
        return {k: v.strip() for k, _, v in (ln.partition(":") for ln in text.splitlines()
                                              if ln and not ln[0].isspace())}

    a, b = fields(ours), fields(theirs)
    for key in ("Package", "Version", "Architecture", "Depends", "Filename", "Size", "MD5sum",
                "SHA256", "Installed-Size"):
        assert a[key] == b[key], key
    release = (dep.root / "apt" / "Release").read_text()
    assert "SHA256:" in release and " Packages.gz" in release
    # a file that is not a package is refused with a clear line and nothing changes
    bad = tmp_path / "broken.deb"
    bad.write_bytes(b"not a deb")
    assert provision(["--lang", "en", "-d", str(dep.root), "repo", str(bad)]) == 1
    assert (dep.root / "apt" / "Packages").read_text() == ours


@pytest.mark.slow
def test_first_boot_installs_the_agent_from_the_card_without_network(
        deb: Path, tmp_path: Path) -> None:
    debs = _dependency_debs(deb, tmp_path)
    port = free_port()
    dep = make_deployment(tmp_path, extra=("--enroll-url",
                                           f"https://127.0.0.1:{port}/enroll/v1"))
    assert provision(["--lang", "en", "-d", str(dep.root), "repo", str(deb),
                      *map(str, debs)]) == 0
    card = tmp_path / "card-copy"
    with FatCard(tmp_path, {"cmdline.txt": "console=tty1\n", "issue.txt": TRIXIE_ISSUE},
                 size_mb=128) as boot:
        assert provision(["--lang", "en", "-d", str(dep.root), "sdcard", NODE,
                          "--boot", str(boot), "--no-ssh"]) == 0
        shutil.copytree(boot, card)
    user_data = yaml.safe_load((card / "user-data").read_text())
    firstboot = user_data["runcmd"][0]
    assert firstboot == ["sh", "/boot/firmware/kotanet/firstboot.sh"]
    assert user_data["runcmd"].index(firstboot) < user_data["runcmd"].index(
        ["systemctl", "enable", "--now", "kotanet-enroll.service"])
    assert (card / "kotanet/apt" / deb.name).read_bytes() == deb.read_bytes()

    node = _root(tmp_path / "node")
    shutil.copytree(card, node / "boot/firmware", dirs_exist_ok=True)
    for lists in (node / "var/lib/apt/lists").glob("*_Packages*"):
        lists.unlink()
    # the node has no network at all: its own, empty network namespace
    res = _run("unshare", "--net", "chroot", str(node), *firstboot, env=ENV, timeout=600)
    log = (node / "var/log/kotanet-firstboot.log").read_text()
    assert res.returncode == 0, log[-3000:] + res.stderr[-1000:]
    assert "installed from the card: kotanet-agent" in log, log[-3000:]
    assert "trying every apt source" not in log
    status = _run("chroot", str(node), "dpkg-query", "-W", "-f", "${Status} ${Version}",
                  "kotanet-agent", env=ENV).stdout
    assert status == f"install ok installed {read_control(deb).version}"
    policy = _run("chroot", str(node), "apt-cache", "policy", "kotanet-agent", env=ENV).stdout
    assert "file:/boot/firmware/kotanet/apt ./" in policy, policy
    assert _run("chroot", str(node), "/usr/bin/kotanet-agent", "--help",
                env=ENV).returncode == 0
    sources = (node / "etc/apt/sources.list.d/kotanet.sources").read_text()
    assert f"URIs: https://127.0.0.1:{port}/apt/" in sources

    # upgrades: apt fetches kotanet-agent from central's /apt/ over HTTPS (deployment CA)
    server = HttpsServer(dep, port)
    setup_enroll(server.app, dep.root)
    central_only = ("-o", "Dir::Etc::SourceList=/etc/apt/sources.list.d/kotanet.sources",
                    "-o", "Dir::Etc::SourceParts=-", "-o", "APT::Get::List-Cleanup=false")
    with server:
        res = _run("chroot", str(node), "apt-get", *central_only, "update", env=ENV)
        assert res.returncode == 0 and "Err" not in res.stdout, res.stdout + res.stderr
        res = _run("chroot", str(node), "apt-get", *central_only, "install", "--reinstall",
                   "-y", "kotanet-agent", env=ENV)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"https://127.0.0.1:{port}/apt ./ kotanet-agent" in res.stdout, res.stdout

