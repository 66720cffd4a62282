"""Every repository path the architecture document names exists (docs stay true to the tree)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP = ("agent", "central", "protocol", "provisioning", "firmware_configs", "scripts", "bench",
       "tests", "docs", "packaging", "examples")
TOKEN = re.compile(r"`([A-Za-z0-9_./-]+)`")


def named_paths(text: str) -> set[str]:
    """Backticked tokens that are paths inside the repository (a top folder, then more)."""
    out = set()
    for raw in TOKEN.findall(text):
        tok = raw.rstrip("/.")
        if ("/" in tok or raw.endswith("/")) and tok.split("/")[0] in TOP:
            out.add(tok)
    return out


def exists(path: str) -> bool:
    """A file or folder of the checkout, or ``module.attribute`` of one of its modules."""
    if (ROOT / path).exists():
        return True
    module, _, attr = path.rpartition(".")
    return bool(module) and attr.isidentifier() and (ROOT / f"{module}.py").is_file()


@pytest.mark.parametrize("doc", ["docs/architecture.md", "README.md", "docs/scaling.md"])
def test_every_path_named_in_the_doc_exists(doc: str) -> None:
    paths = named_paths((ROOT / doc).read_text(encoding="utf-8"))
    assert len(paths) >= 5, f"{doc} names too few paths to check ({sorted(paths)})"
    missing = sorted(p for p in paths if not exists(p))
    assert not missing, f"{doc} names paths that do not exist: {missing}"


def test_the_architecture_opens_with_the_map_and_both_data_paths() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    head = text[: text.index("## Layout")]
    for section in ("A sample, from probe to database and receipt",
                    "A throttle, from policy to tc and ack"):
        assert section in head, f"the opening lacks '{section}'"
    assert len(named_paths(head)) >= 15, "each step of the two paths names its file"


def test_the_checker_finds_a_missing_path() -> None:
    assert named_paths("see `agent/nothing_here.py` and `x.py` and `central/`") == {
        "agent/nothing_here.py", "central"}
    assert not exists("agent/nothing_here.py") and exists("central")
    assert exists("central/assemble.build_app") and not exists("central/assemble.nothing.py")
