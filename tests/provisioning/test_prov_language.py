"""Indonesian first: every user-facing string of kotanet-provision has an Indonesian text, the
--help of every command is Indonesian with LANG=id_ID.UTF-8, no English slips into Indonesian
output, times are WIB."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from provhelp import REPO

from provisioning.cli import main
from provisioning.i18n import ARGPARSE_ID, CATALOGUE, wib

PKG = REPO / "provisioning"
COMMANDS = ("init", "validate", "build", "fieldkit", "sdcard", "label", "verify", "rotate",
            "revoke")
#: entries whose Indonesian text may equal the English one (symbols, names, placeholders)
SAME_OK = re.compile(r"^(mv_|enc_|os_|w_)")
#: codes built at run time from a prefix, and the values the prefix takes
DYNAMIC = {"h_": [f"h_{c}" for c in COMMANDS] + [f"h_{c}_example" for c in COMMANDS],
           "os_": ["os_cloud_init", "os_custom_toml"], "src_": ["src_broker_log", "src_verify"],
           "n_": ["n_decimal_comma", "n_thousands_dot"], "mv_": [],
           "enc_": ["enc_utf_8", "enc_utf_8_bom", "enc_utf_16", "enc_cp1252"]}
#: calls whose first string argument is a catalogue key
KEY_CALLS = {"m", "DeploymentError", "CredentialError", "VerifyError", "ask"}


def fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_catalogue_entry_has_an_indonesian_text_with_the_same_placeholders() -> None:
    assert len(CATALOGUE) > 250
    for key, entry in CATALOGUE.items():
        assert set(entry) == {"id", "en"}, key
        assert entry["id"].strip() and entry["en"].strip(), key
        assert fields(entry["id"]) == fields(entry["en"]), key
        if not SAME_OK.match(key):
            assert entry["id"] != entry["en"], f"{key}: Indonesian text is the English one"


def _modules() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text(), str(p))) for p in sorted(PKG.glob("*.py"))]


def _name(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def test_every_key_used_in_the_code_is_in_the_catalogue() -> None:
    used: set[str] = set()
    for path, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            args = [a for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if _name(node) in KEY_CALLS and node.args and node.args[0] in args:
                used.add(f"{path.name}:{node.args[0].value}")  # type: ignore[union-attr]
            if _name(node) in ("Check", "Issue"):  # Check(key, .., hint), Issue(.., code)
                keys = [a.value for a in args if re.fullmatch(r"(chk|hint|e|n)_[a-z_0-9]+", a.value)]
                used.update(f"{path.name}:{k}" for k in keys)
    missing = sorted(u for u in used if u.split(":", 1)[1] not in CATALOGUE)
    assert not missing, missing
    assert len(used) > 100
    for values in DYNAMIC.values():
        assert all(v in CATALOGUE for v in values)
    codes = [k for k in CATALOGUE if k.startswith("c_") and not k.endswith("_fix")]
    assert codes and all(f"{c}_fix" in CATALOGUE for c in codes)  # every cause has its fix


def _english_literal(node: ast.AST) -> str | None:
    """A string literal with letters that would be printed as it is (not a catalogue text)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if re.search(r"[A-Za-z]{2,}", node.value) else None
    if isinstance(node, ast.JoinedStr):
        for part in node.values:
            if isinstance(part, ast.Constant) and re.search(r"[A-Za-z]{2,}", str(part.value)):
                return str(part.value)
    return None


def _is_output(call: ast.Call) -> bool:
    """print(...), or .write(...) on sys.stdout, sys.stderr or a progress stream."""
    f = call.func
    if isinstance(f, ast.Name):
        return f.id == "print"
    return (isinstance(f, ast.Attribute) and f.attr == "write"
            and ast.unparse(f.value) in ("sys.stdout", "sys.stderr", "self.stream"))


def test_nothing_is_printed_but_catalogue_texts() -> None:
    """What kotanet-provision prints carries only m(...) texts, marks and paths."""
    outputs, found = 0, []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _is_output(node):
                outputs += 1
                found += [f"{path.name}:{node.lineno}: {lit!r}" for arg in node.args
                          if (lit := _english_literal(arg)) is not None]
    assert outputs > 30
    assert not found, found


@pytest.mark.parametrize("cmd", [None, *COMMANDS])
def test_help_of_every_command_is_indonesian_with_lang_id(
        cmd: str | None, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.setenv("LANG", "id_ID.UTF-8")  # no --lang: the technician's laptop setting
    with pytest.raises(SystemExit) as exc:
        main([*([cmd] if cmd else []), "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("penggunaan: kotanet-provision")
    for english in ARGPARSE_ID:
        assert english.strip() not in out or english.strip() in ARGPARSE_ID[english], english
    english_help = {e["en"].split("\n")[0] for k, e in CATALOGUE.items()
                    if k.startswith("h_") and len(e["en"]) > 12}
    assert not [e for e in english_help if e in out]
    assert ("contoh:" in out) or ("alur kerja" in out)


def test_parser_errors_are_indonesian(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--lang", "id", "sdcard", "tks-01", "--ssh-key", "a.pub", "--no-ssh"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "kesalahan: argumen --no-ssh: tidak boleh bersama argumen --ssh-key" in err
    assert "error" not in err and "usage" not in err


def test_token_expiry_is_in_wib() -> None:
    assert wib(0) == "1970-01-01 07:00 WIB"
    assert wib(1_767_225_600) == "2026-01-01 07:00 WIB"


def test_the_field_guide_is_indonesian_with_an_english_twin() -> None:
    guide = (REPO / "docs/field-guide.md").read_text()
    english = (REPO / "docs/field-guide.en.md").read_text()
    heads = [line for line in guide.splitlines() if line.startswith("## ")]
    assert len(heads) == len([line for line in english.splitlines() if line.startswith("## ")])
    assert heads[0] == "## Alur kerja" and "## 4. Kartu SD: `fieldkit` dan `sdcard`" in heads
    assert "## 8. Pemecahan masalah" in heads and "(field-guide.en.md)" in guide
    for cmd in COMMANDS:  # every command is explained in both
        assert f"kotanet-provision {cmd}" in guide and f"kotanet-provision {cmd}" in english
    for english_heading in ("## 8. Troubleshooting", "## 6. Verify on site", "| symptom |"):
        assert english_heading not in guide
