"""Fuzz the provisioning inventory parser: what ``kotanet-provision validate`` runs
(provisioning.cmdutil.load_valid_inventory: load_inventory, validate, every problem in the
technician's language) on any YAML or CSV bytes. It reports problems as issues and raises
nothing; an inventory it accepts is typed and every id passes protocol.topics.is_valid_id."""

from __future__ import annotations

import contextlib
import io
import ipaddress
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import strategies as st

from protocol.topics import is_valid_id
from provisioning.cmdutil import load_valid_inventory
from provisioning.i18n import Messages
from provisioning.model import Inventory, Node, Site, Uplink
from tests.fuzz import strategies as fst
from tests.fuzz.harness import Handler, fuzz_test

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "inventory"
YAML_LINES = (EXAMPLES / "sampit.yaml").read_text(encoding="utf-8").splitlines()
CSV_LINES = {name: (EXAMPLES / "csv" / name).read_text(encoding="utf-8").splitlines()
             for name in ("sites.csv", "nodes.csv")}
MESSAGES = {lang: Messages(lang) for lang in ("en", "id")}


@dataclass(frozen=True)
class InventoryCase:
    """Files of one inventory (``inventory.yaml`` or ``sites.csv``/``nodes.csv``), a language."""

    files: tuple[tuple[str, bytes], ...]
    lang: str = "en"


def _validate(case: InventoryCase) -> tuple[Inventory | None, str]:
    with tempfile.TemporaryDirectory(prefix="kotanet-fuzz-inv-") as tmp:
        root = Path(tmp)
        for name, data in case.files:
            (root / name).write_bytes(data)
        target = root / "inventory.yaml" if case.files[0][0].endswith(".yaml") else root
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            inv = load_valid_inventory(MESSAGES[case.lang], target)
        return inv, out.getvalue()


def _check(case: InventoryCase, result: tuple[Inventory | None, str]) -> None:
    inv, out = result
    if inv is None:
        assert out.strip(), "a refused inventory must say why"
        return
    assert isinstance(inv, Inventory)
    for sid, site in inv.sites.items():
        assert isinstance(site, Site) and site.id == sid and is_valid_id(sid), sid
        assert isinstance(site.lat, float) and isinstance(site.lon, float)
        assert isinstance(site.capacity_down_kbps, int) and isinstance(site.capacity_up_kbps, int)
    for nid, node in inv.nodes.items():
        assert isinstance(node, Node) and node.id == nid and is_valid_id(nid), nid
        assert inv.sites.get(node.site.id) == node.site, f"{nid}: site {node.site.id} unknown"
        assert isinstance(node.channel, int) and isinstance(node.ssid, str)
        assert isinstance(node.lan_subnet, ipaddress.IPv4Network)
        assert all(isinstance(u, Uplink) and isinstance(u.priority, int) for u in node.uplinks)
        assert all(isinstance(n, ipaddress.IPv4Network) for n in node.allow_private)


# ------------------------------------------------------------------ inputs
HOSTILE_SCALARS = [
    "", "~", "null", "[1, 2]", "{a: 1}", "1e999", ".nan", "-.inf", "&a x", "*a", "*nope",
    "!!binary AAAA", "!!python/object/apply:os.system [true]", "!!int x", "0x1F", "0o17",
    "2026-01-01", "yes", "no", "'unterminated", '"bad \\q escape"', "- - -", "? x", "|", ">-",
    "@x", "`x", "%TAG", "a: b: c", "\t1", "é" * 300, "9" * 5000, "-2,5386", "100.000",
    "10.0.0.0/8", "300.1.1.1/24", "../../etc", "CON", "tk 01", "\u0000", "\ufeff", "\ud800",
]
scalars = st.one_of(st.sampled_from(HOSTILE_SCALARS), fst.leaves.map(str), st.text(max_size=30))
encodings = st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "cp1252"])


def _encode(text: str, encoding: str) -> bytes:
    return text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace")


@st.composite
def _mutate_lines(draw: st.DrawFn, lines: list[str], sep: str) -> str:
    """``lines`` with 1-4 hostile edits: a value, a cell, a line dropped/doubled/re-indented."""
    lines = list(lines)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "value", "value", "drop", "dup", "indent", "insert",
                                   "cut", "sep"]))
        line = lines[i]
        if op == "value":
            if sep == ":" and ":" in line:
                key, _, _ = line.partition(":")
                lines[i] = f"{key}: {draw(scalars)}"
            elif sep != ":":
                cells = line.split(sep)
                j = draw(st.integers(0, len(cells) - 1))
                cells[j] = draw(scalars)
                lines[i] = sep.join(cells)
        elif op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "indent":
            lines[i] = draw(st.sampled_from(["", " ", "\t", "      "])) + line.lstrip()
        elif op == "insert":
            lines.insert(i, draw(scalars))
        elif op == "cut":
            lines[i] = line[:draw(st.integers(0, len(line)))]
        elif sep != ":":
            lines[i] = line.replace(sep, draw(st.sampled_from([";", "\t", ",,", '"'])))
        if not lines:
            lines = [""]
    return draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)


@st.composite
def yaml_mutated(draw: st.DrawFn) -> InventoryCase:
    text = draw(_mutate_lines(YAML_LINES, ":"))
    return InventoryCase((("inventory.yaml", _encode(text, draw(encodings))),),
                         draw(st.sampled_from(sorted(MESSAGES))))


@st.composite
def csv_mutated(draw: st.DrawFn) -> InventoryCase:
    files = []
    for name, lines in CSV_LINES.items():
        if draw(st.integers(0, 9)) == 0:
            continue  # a missing file
        text = draw(_mutate_lines(lines, ",")) if draw(st.booleans()) else "\n".join(lines)
        files.append((name, _encode(text, draw(encodings))))
    return InventoryCase(tuple(files) or (("sites.csv", b""),),
                         draw(st.sampled_from(sorted(MESSAGES))))


any_bytes = st.one_of(st.binary(max_size=2048),
                      st.text(max_size=400).flatmap(lambda t: encodings.map(lambda e: _encode(t, e))))
raw_yaml = st.builds(lambda b, lang: InventoryCase((("inventory.yaml", b),), lang),
                     any_bytes, st.sampled_from(sorted(MESSAGES)))
raw_csv = st.builds(lambda s, n, lang: InventoryCase((("sites.csv", s), ("nodes.csv", n)), lang),
                    any_bytes, any_bytes, st.sampled_from(sorted(MESSAGES)))

HANDLER = Handler("provisioning.validate", _validate, refusals=(), check=_check)

test_raw_yaml = fuzz_test(HANDLER, "raw_yaml", raw_yaml)
test_raw_csv = fuzz_test(HANDLER, "raw_csv", raw_csv)
test_mutated_yaml = fuzz_test(HANDLER, "mutated_yaml", yaml_mutated())
test_mutated_csv = fuzz_test(HANDLER, "mutated_csv", csv_mutated())
