"""The technician-facing CLI: teaching --help, language choice, progress without a TTY."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from provhelp import SAMPLE, make_deployment

from provisioning.build import build_all
from provisioning.cli import main
from provisioning.i18n import CATALOGUE, Messages
from provisioning.inventory import load_inventory
from provisioning.progress import Progress
from provisioning.rules import validate


def test_help_teaches_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("init", "validate", "build", "sdcard", "label", "verify", "rotate", "revoke"):
        assert f"kotanet-provision {cmd} " in out
    with pytest.raises(SystemExit):
        main(["sdcard", "--help"])
    assert "example:" in capsys.readouterr().out


def test_every_message_exists_in_both_languages() -> None:
    for key, entry in CATALOGUE.items():
        assert set(entry) == {"en", "id"}, key


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


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path, build=False)
    key = dep.read("ca.key")
    assert main(["--lang", "en", "init", str(dep.root)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().out
    assert dep.read("ca.key") == key


def test_commands_without_deployment_explain_what_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lang", "en", "-d", str(tmp_path), "label", "tks-01"]) == 1
    assert "run 'kotanet-provision init" in capsys.readouterr().out


def test_build_names_nodes_dropped_from_the_inventory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path)
    smaller = tmp_path / "smaller.yaml"
    text = SAMPLE.read_text()
    smaller.write_text(text[: text.index("  - id: kominfo-01")])
    capsys.readouterr()
    assert main(["--lang", "en", "-d", str(dep.root), "build", str(smaller)]) == 0
    out = capsys.readouterr().out
    assert "not in this inventory: kominfo-01 (revoke them" in out
