"""The technician-facing CLI: teaching --help, progress without a TTY, no damaging hints,
exit 3 when the broker was not reloaded."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from provhelp import SAMPLE, make_deployment

from provisioning import brokerfiles, cmdutil
from provisioning.build import build_all
from provisioning.cli import main
from provisioning.i18n import Messages
from provisioning.inventory import load_inventory
from provisioning.progress import Progress
from provisioning.rules import validate


def test_help_teaches_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("init", "validate", "build", "fieldkit", "sdcard", "label", "verify", "rotate",
                "revoke"):
        assert f"kotanet-provision {cmd} " in out
    with pytest.raises(SystemExit):
        main(["--lang", "en", "sdcard", "--help"])
    assert "example:" in capsys.readouterr().out


def test_language_follows_lang_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "id_ID.UTF-8")
    assert Messages().lang == "id"
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    assert Messages().lang == "en"
    assert Messages("id").lang == "id"


def test_progress_without_tty_prints_one_line_per_node(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path, build=False)
    inv, _ = validate(load_inventory(SAMPLE))
    assert inv is not None
    stream = io.StringIO()
    build_all(dep, inv, dep.root / "bundles", stream=stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 5 and "\r" not in stream.getvalue()
    assert lines[-1].startswith("Building [" + "#" * 30 + "] 5/5 100%")


def test_progress_redraws_in_place_on_a_tty() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    p = Progress(2, "Membuat", stream)
    p.step("a")
    p.step("b")
    assert stream.getvalue().count("\r") == 2 and stream.getvalue().endswith("100% b\n")


def test_init_refuses_a_directory_that_holds_a_deployment(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path, build=False)
    key, signing = dep.read("ca.key"), dep.read("signing.key")
    capsys.readouterr()
    assert main(["--lang", "id", "init", str(dep.root)]) == 1
    out = capsys.readouterr().out
    assert "sudah berisi deployment (atau paket lapangan); tidak akan ditimpa" in out
    assert f"export KOTANET_DEPLOYMENT={dep.root}" in out
    assert dep.read("ca.key") == key and dep.read("signing.key") == signing
    # a half-made one (a CA but no deployment.json) is refused as well
    (dep.root / "deployment.json").unlink()
    assert main(["--lang", "en", "init", str(dep.root)]) == 1
    assert dep.read("ca.key") == key


def test_commands_without_deployment_say_how_to_point_at_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The trap: the old hint said "run init first", which makes a new CA whose cards central
    refuses. Now it says how to point at the deployment (or a field kit), never to init."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("KOTANET_DEPLOYMENT", raising=False)
    for argv in (["label", "tks-01"], ["sdcard", "tks-01", "--boot", "/media/x", "--no-ssh"],
                 ["verify", "tks-01"], ["build", str(SAMPLE)], ["revoke", "tks-01", "--yes"]):
        assert main(["--lang", "id", *argv]) == 1, argv
        out = capsys.readouterr().out
        assert f"Deployment tidak ditemukan di {tmp_path}" in out
        assert "kotanet-provision -d /srv/kotanet" in out and "KOTANET_DEPLOYMENT" in out
        assert "kotanet-provision fieldkit" in out and "Jangan jalankan 'init'" in out
    assert list(tmp_path.iterdir()) == []  # nothing was created


def test_build_names_nodes_dropped_from_the_inventory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path)
    smaller = tmp_path / "smaller.yaml"
    text = SAMPLE.read_text()
    smaller.write_text(text[: text.index("  - id: kominfo-01")])
    capsys.readouterr()
    assert main(["--lang", "en", "-d", str(dep.root), "build", str(smaller)]) == 0
    out = capsys.readouterr().out
    assert "not in this inventory: kominfo-01. To remove their access: " \
           "kotanet-provision revoke kominfo-01" in out


def test_changes_not_in_force_exit_3(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """rotate, rotate --confirm, revoke and build --pid-file that could not reload mosquitto
    say so and exit 3: the change is written but not in force."""
    dep = make_deployment(tmp_path)
    nowhere = (str(tmp_path / "no-mosquitto.pid"),)  # never signal a mosquitto of the host
    monkeypatch.setattr(brokerfiles, "DEFAULT_PID_FILES", nowhere)
    monkeypatch.setattr(cmdutil, "DEFAULT_PID_FILES", nowhere)
    capsys.readouterr()
    # rotate without --pid-file and no default pid file: the technician is told
    assert main(["--lang", "en", "-d", str(dep.root), "rotate", "tks-01"]) == 3
    out = capsys.readouterr().out
    assert "New credentials for tks-01" in out
    assert f"Broker NOT reloaded: no mosquitto pid file found ({nowhere[0]})" in out
    assert f"install {dep.broker_dir} on the broker host" in out
    # rotate --confirm with a --pid-file that does not exist, in Bahasa Indonesia
    missing = tmp_path / "missing.pid"
    assert main(["--lang", "id", "-d", str(dep.root), "rotate", "tks-01", "--confirm", "--force",
                 "--pid-file", str(missing)]) == 3
    out = capsys.readouterr().out
    assert "Rotasi tks-01 dikonfirmasi" in out
    assert f"Broker TIDAK dimuat ulang: berkas pid mosquitto tidak ditemukan ({missing})" in out
    # revoke no longer claims a reload that did not happen
    assert main(["--lang", "en", "-d", str(dep.root), "revoke", "tks-02", "--yes"]) == 3
    out = capsys.readouterr().out
    assert "Node tks-02 revoked" in out and "Broker NOT reloaded" in out
    assert "Broker reloaded" not in out
    assert main(["--lang", "en", "-d", str(dep.root), "build", str(SAMPLE), "--pid-file",
                 str(missing)]) == 3
    assert "Broker NOT reloaded" in capsys.readouterr().out


def test_a_file_that_cannot_be_written_is_named_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path)
    blocker = tmp_path / "labels"
    blocker.write_text("a file where the technician meant a folder\n")
    capsys.readouterr()
    assert main(["--lang", "id", "-d", str(dep.root), "label", "tks-01", "--out",
                 str(blocker / "hari-ini")]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"Tidak bisa membaca atau menulis {blocker / 'hari-ini'}: sebagian "
                          "jalurnya adalah berkas, bukan folder.")
    assert "Traceback" not in out and "Errno" not in out


def test_lang_and_deployment_may_follow_the_command(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    dep = make_deployment(tmp_path)
    monkeypatch.setenv("KOTANET_DEPLOYMENT", str(tmp_path / "elsewhere"))
    capsys.readouterr()
    assert main(["label", "tks-01", "--out", str(tmp_path / "l"), "-d", str(dep.root),
                 "--lang", "id"]) == 0
    assert "Label ditulis:" in capsys.readouterr().out
