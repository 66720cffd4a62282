"""`kotanet-provision repo`: the deployment's apt repository keeps one version per package,
names files without the epoch, goes into field kits and onto Trixie cards (with the first-boot
installer run before enrolment), never onto Bookworm cards."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from cardhelp import FatCard
from provhelp import make_deployment

from provisioning.aptrepo import read_control
from provisioning.cli import main

TRIXIE = {"cmdline.txt": "console=tty1\n", "issue.txt": "pi-gen, trixie\n"}


def tiny_deb(where: Path, package: str, version: str) -> Path:
    """A real (empty) Debian package made by dpkg-deb."""
    root = where / f"{package}-{version.replace(':', '_')}"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN/control").write_text(
        f"Package: {package}\nVersion: {version}\nArchitecture: all\n"
        "Maintainer: kotanet test <t@example.org>\nDescription: test package\n")
    out = where / f"{root.name}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(out)],
                   check=True, capture_output=True, timeout=60)
    return out


def test_repo_keeps_one_version_and_drops_the_epoch_from_file_names(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path, build=False)
    old, new = tiny_deb(tmp_path, "kotanet-agent", "0.1"), tiny_deb(tmp_path, "kotanet-agent", "0.2")
    lib = tiny_deb(tmp_path, "libfoo1", "1:2.0-1")
    assert main(["--lang", "en", "-d", str(dep.root), "repo", str(old), str(lib)]) == 0
    assert main(["--lang", "en", "-d", str(dep.root), "repo", str(new)]) == 0
    repo = dep.root / "apt"
    assert sorted(p.name for p in repo.glob("*.deb")) == ["kotanet-agent_0.2_all.deb",
                                                          "libfoo1_2.0-1_all.deb"]
    packages = (repo / "Packages").read_text()
    assert "Version: 0.2" in packages and "Version: 0.1" not in packages
    assert "Filename: ./libfoo1_2.0-1_all.deb" in packages and "Version: 1:2.0-1" in packages
    assert read_control(repo / "libfoo1_2.0-1_all.deb").version == "1:2.0-1"
    assert "kotanet-agent 0.2 (all)" in capsys.readouterr().out


def test_field_kit_cards_carry_the_repository_and_bookworm_cards_do_not(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path)
    assert main(["-d", str(dep.root), "repo", str(tiny_deb(tmp_path, "kotanet-agent", "0.3"))]) == 0
    kit = tmp_path / "kit"
    assert main(["-d", str(dep.root), "fieldkit", "tks-01", "tks-02", "--out", str(kit)]) == 0
    assert (kit / "apt/kotanet-agent_0.3_all.deb").is_file()
    capsys.readouterr()
    with FatCard(tmp_path / "a", TRIXIE) as boot:
        assert main(["--lang", "id", "-d", str(kit), "sdcard", "tks-01", "--boot", str(boot),
                     "--no-ssh"]) == 0
        assert (boot / "kotanet/apt/kotanet-agent_0.3_all.deb").is_file()
        assert (boot / "kotanet/apt/Packages").read_bytes() == (kit / "apt/Packages").read_bytes()
        script = (boot / "kotanet/firstboot.sh").read_text()
        runcmd = yaml.safe_load((boot / "user-data").read_text())["runcmd"]
        # the same card written again for Bookworm: the stale software goes
        assert main(["--lang", "id", "-d", str(kit), "sdcard", "tks-01", "--boot", str(boot),
                     "--no-ssh", "--os", "bookworm"]) == 0
        assert not (boot / "kotanet/apt").exists() and not (boot / "kotanet/firstboot.sh").exists()
    assert "Kartu membawa 1 paket" in capsys.readouterr().out
    assert runcmd[0] == ["sh", "/boot/firmware/kotanet/firstboot.sh"]
    assert "URIs: https://noc.kotimkab.go.id/apt/" in script  # central's copy, for upgrades
    assert "{{" not in script
    (tmp_path / "b").mkdir()
    with FatCard(tmp_path / "b") as boot:  # cmdline.txt only: Bookworm
        assert main(["--lang", "en", "-d", str(kit), "sdcard", "tks-02", "--boot", str(boot),
                     "--no-ssh"]) == 0
        assert not (boot / "kotanet/apt").exists() and not (boot / "kotanet/firstboot.sh").exists()
    assert "Bookworm cannot install the agent package" in capsys.readouterr().out
