"""The slips of the hand of issue 18, run as a technician would type them (LANG=id_ID.UTF-8):
each ends in a clear refusal or warning, and nothing is written or changed.

Also in other files: no deployment -> no "run init" (test_prov_cli), rotate + immediate
--confirm (test_prov_rotate), broker not reloaded -> exit 3 (test_prov_cli), Excel and ANSI
CSV (test_prov_inventory_formats)."""

from __future__ import annotations

import io
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cardhelp import FatCard, files_on, is_mounted, ssh_public_key
from provhelp import SAMPLE, make_deployment

from provisioning.cli import main
from provisioning.deployment import Deployment


@pytest.fixture
def dep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    d = make_deployment(tmp_path)
    monkeypatch.setenv("LANG", "id_ID.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("KOTANET_DEPLOYMENT", str(d.root))
    return d


def provision(*argv: str) -> int:
    """`kotanet-provision ARGS` as typed (deployment and language from the environment)."""
    return main(list(argv))


def tokens_under(root: Path) -> list[Path]:
    """Files under root holding an enrolment token (never outside the deployment's tokens/)."""
    return [p for p in root.rglob("*") if p.is_file() and b"kte1." in p.read_bytes()]


def test_sdcard_on_a_mistyped_path_with_os_writes_nothing(
        dep: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = ssh_public_key(tmp_path / "ssh")
    typo = tmp_path / "media" / "teknisi" / "bootf"  # "bootfs" mistyped
    assert provision("sdcard", "tks-01", "--boot", str(typo), "--os", "trixie",
                     "--ssh-key", str(key)) == 1
    out = capsys.readouterr().out
    assert f"{typo} tidak ada: salah ketik, atau kartu belum terpasang" in out
    assert "Tidak ada yang ditulis." in out
    assert not (tmp_path / "media").exists()
    assert tokens_under(tmp_path) == []


def test_sdcard_on_an_unmounted_folder_with_os_writes_nothing(
        dep: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The card's mount folder exists but the card is not mounted: the laptop's own disk."""
    key = ssh_public_key(tmp_path / "ssh")
    folder = tmp_path / "media" / "teknisi" / "bootfs"
    folder.mkdir(parents=True)
    (folder / "cmdline.txt").write_text("console=tty1\n")  # even a boot-looking folder
    for os_name in ("trixie", "bookworm", "auto"):
        assert provision("sdcard", "tks-01", "--boot", str(folder), "--os", os_name,
                         "--ssh-key", str(key)) == 1
        assert "bukan partisi yang terpasang (hanya folder di disk laptop ini)" in \
            capsys.readouterr().out
    assert sorted(p.name for p in folder.iterdir()) == ["cmdline.txt"]
    assert tokens_under(tmp_path) == []


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A mounted file system that is not FAT (tmpfs): e.g. a USB stick formatted ext4."""
    where = tmp_path / "usb"
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], check=True,
                   timeout=30)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False, timeout=30)
        assert not is_mounted(where)


def test_sdcard_on_a_mounted_non_fat_partition_writes_nothing(
        dep: Deployment, tmpfs: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmpfs / "cmdline.txt").write_text("console=tty1\n")
    assert provision("sdcard", "tks-01", "--boot", str(tmpfs), "--os", "trixie",
                     "--ssh-key", str(ssh_public_key(tmp_path / "ssh"))) == 1
    assert f"{tmpfs} terpasang dengan sistem berkas tmpfs, bukan FAT" in capsys.readouterr().out
    assert [p.name for p in tmpfs.iterdir()] == ["cmdline.txt"]


def test_no_card_without_a_way_in(dep: Deployment, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "ssh"
    pub = ssh_public_key(keys)
    with FatCard(tmp_path / "card") as boot:
        blank = files_on(boot)
        assert provision("sdcard", "tks-02", "--boot", str(boot)) == 1
        out = capsys.readouterr().out
        assert "Tidak ada kartu tanpa jalan masuk" in out
        assert f"--boot {boot} --ssh-key ~/.ssh/id_ed25519.pub" in out
        # the private key instead of the .pub: refused, never written to a card
        assert provision("sdcard", "tks-02", "--boot", str(boot), "--ssh-key",
                         str(keys / "id_ed25519")) == 1
        assert "adalah kunci PRIVAT" in capsys.readouterr().out
        assert files_on(boot) == blank
        # deliberately without SSH: a warning, and the card says so
        assert provision("sdcard", "tks-02", "--boot", str(boot), "--no-ssh") == 0
        assert "PERINGATAN: kartu tks-02 tanpa SSH" in capsys.readouterr().out
        custom = tomllib.loads(files_on(boot)["custom.toml"])
        assert custom["ssh"]["enabled"] is False
        assert provision("sdcard", "tks-02", "--boot", str(boot), "--ssh-key", str(pub)) == 0
        custom = tomllib.loads(files_on(boot)["custom.toml"])
        assert custom["ssh"]["enabled"] is True
        assert custom["ssh"]["authorized_keys"] == [pub.read_text().strip()]


def test_revoke_asks_first(dep: Deployment, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    before = dep.manifest_path.read_bytes(), (dep.broker_dir / "passwd").read_bytes()
    for answer in ("", "y\n", "tks-01\n"):  # Enter, a reflex "y", another node's id
        monkeypatch.setattr("sys.stdin", io.StringIO(answer))
        assert provision("revoke", "tks-02", "--pid-file", "/nonexistent.pid") == 1
        out = capsys.readouterr().out
        assert "Mencabut tks-02 (Taman Kota Sampit)" in out and "Ketik tks-02 untuk mencabut" in out
        assert "Dibatalkan: tks-02 tidak dicabut" in out
    assert (dep.manifest_path.read_bytes(), (dep.broker_dir / "passwd").read_bytes()) == before
    monkeypatch.setattr("sys.stdin", io.StringIO("tks-02\n"))
    assert provision("revoke", "tks-02", "--pid-file", "/nonexistent.pid") == 3  # not reloaded
    assert "Node tks-02 dicabut" in capsys.readouterr().out


def test_after_revoke_the_hint_names_the_command_that_readmits(
        dep: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert provision("revoke", "tks-02", "--yes", "--pid-file", "/nonexistent.pid") == 3
    with FatCard(tmp_path / "card") as boot:
        assert provision("sdcard", "tks-02", "--boot", str(boot), "--no-ssh") == 1
        out = capsys.readouterr().out
        hint = "kotanet-provision build INVENTARIS --readmit tks-02"
        assert hint in out and "build ulang" not in out
        assert "kte1." not in "".join(files_on(boot).values())
        # the named command works, and then the card can be made
        assert provision("build", str(SAMPLE), "--readmit", "tks-02") == 0
        assert provision("sdcard", "tks-02", "--boot", str(boot), "--no-ssh") == 0
    assert provision("build", str(SAMPLE)) == 0
    assert "Tetap dicabut" not in capsys.readouterr().out


def test_init_over_a_field_kit_or_deployment_is_refused(
        dep: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kit = tmp_path / "kit"
    assert provision("fieldkit", "tks-01", "--out", str(kit)) == 0
    listing = sorted(str(p) for p in kit.rglob("*"))
    assert provision("init", str(kit)) == 1
    assert provision("init", str(dep.root)) == 1
    assert sorted(str(p) for p in kit.rglob("*")) == listing
    assert "tidak akan ditimpa" in capsys.readouterr().out
