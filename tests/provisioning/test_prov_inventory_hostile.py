"""Regressions found by ``make fuzz`` (tests/fuzz/test_fuzz_inventory.py): inventories that
made the parser raise instead of reporting a problem in the technician's language."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from provisioning.cmdutil import load_valid_inventory
from provisioning.i18n import Messages

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "inventory"


def _validate(target: Path) -> tuple[object, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        inv = load_valid_inventory(Messages("en"), target)
    return inv, out.getvalue()


def test_a_yaml_tag_pyyaml_cannot_build_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    text = (EXAMPLES / "sampit.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "inventory.yaml"
    bad.write_text(text.replace("  - id: taman-kota-sampit", "  - id: !!int x", 1),
                   encoding="utf-8")
    inv, out = _validate(bad)
    assert inv is None and out.strip()


def test_bytes_that_break_the_byte_order_mark_are_a_problem_not_a_crash(tmp_path: Path) -> None:
    sites = (EXAMPLES / "csv" / "sites.csv").read_bytes()
    nodes = (EXAMPLES / "csv" / "nodes.csv").read_text(encoding="utf-8")
    rows = nodes.splitlines()[1:]
    for body in (b"\xef\xbb\xbf\xed\xa0\x80," + "\n".join(rows).encode(),  # UTF-8 BOM, surrogate
                 b"\xff\xfe\x00\xd8," + "\n".join(rows).encode("utf-16-le")):  # UTF-16 BOM
        (tmp_path / "sites.csv").write_bytes(sites)
        (tmp_path / "nodes.csv").write_bytes(body)
        inv, out = _validate(tmp_path)
        assert inv is None and "0x" in out, out


def test_a_list_where_the_board_name_belongs_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    text = (EXAMPLES / "sampit.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "inventory.yaml"
    bad.write_text(text.replace("    board: pi4", "    board: [1, 2]", 1), encoding="utf-8")
    assert "board: [1, 2]" in bad.read_text(encoding="utf-8")
    inv, out = _validate(bad)
    assert inv is None and "board" in out, out
