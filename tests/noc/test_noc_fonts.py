"""Every character the NOC prints beyond ASCII (badge glyphs in noc.css, the catalogue, the
templates and the budget script) exists in a font the Makefile's APT list installs, so no
badge renders as an empty box."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from noc_helpers import ROOT

NOC = ROOT / "central" / "noc"
FONT_PACKAGES = ["fonts-dejavu-core"]


def _apt_packages() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    block = re.search(r"^APT_PACKAGES := (.*?)(?:\n\n)", text, re.S | re.M)
    assert block, "APT_PACKAGES not found in the Makefile"
    return set(block.group(1).replace("\\", " ").split())


def _font_files(package: str) -> list[str]:
    out = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=True,
                         timeout=30).stdout
    return [p for p in out.splitlines() if p.endswith((".ttf", ".otf"))]


def _chars() -> dict[str, str]:
    """Non-ASCII characters the NOC shows -> where one of them comes from."""
    sources = [NOC / "messages.json", NOC / "static" / "budget.js",
               *sorted((NOC / "templates").rglob("*.html"))]
    found: dict[str, str] = {}
    for path in sources:
        for ch in path.read_text(encoding="utf-8"):
            if ord(ch) > 127 and not ch.isspace():
                found.setdefault(ch, path.name)
    css = (NOC / "static" / "noc.css").read_text(encoding="utf-8")
    for content in re.findall(r'content:\s*"([^"]*)"', css):
        for ch in content:
            if ord(ch) > 127:
                found.setdefault(ch, "noc.css")
    return found


def test_every_glyph_is_in_an_installed_font() -> None:
    assert set(FONT_PACKAGES) <= _apt_packages()
    files = [f for p in FONT_PACKAGES for f in _font_files(p)]
    assert files, "no font files in " + ", ".join(FONT_PACKAGES)
    chars = _chars()
    assert "✓" in chars and "↓" in chars  # the badges are in the scan
    missing = {}
    for ch, where in sorted(chars.items()):
        out = subprocess.run(["fc-list", f":charset={ord(ch):x}", "file"], capture_output=True,
                             text=True, check=True, timeout=30).stdout
        have = {line.split(":")[0].strip() for line in out.splitlines()}
        if not have & {str(Path(f)) for f in files}:
            missing[f"U+{ord(ch):04X} {ch}"] = where
    assert missing == {}
