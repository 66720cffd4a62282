"""Lay a label out on a fixed width with measured text: nothing is placed outside the margins.

Sizes are millimetres; text is measured with the font the PNG is drawn with (DejaVu Sans from
fonts-dejavu-core, else Pillow's built-in scalable font) at the render resolution. A line too
wide is first set smaller (down to `min_mm`), then wrapped at spaces, then at '/', '-', '.',
and last between characters. The label grows downwards as needed (continuous 62 mm rolls).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from PIL import ImageFont

log = logging.getLogger(__name__)

DPI = 300
PX_PER_MM = DPI / 25.4
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/TTF",
             "/usr/share/fonts/dejavu", "/usr/local/share/fonts")
FONT_FILES = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}
LINE_GAP = 1.28  # line height as a multiple of the font size
_BREAKS = re.compile(r"(?<=[/\-.?=&_])")


@functools.lru_cache(maxsize=64)
def font(size_mm: float, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The label font at size_mm (em size) for DPI."""
    px = max(1, round(size_mm * PX_PER_MM))
    for d in FONT_DIRS:
        path = Path(d) / FONT_FILES[bold]
        if path.is_file():
            return ImageFont.truetype(str(path), px)
    log.info("DejaVu Sans not found in %s: using Pillow's built-in font", FONT_DIRS)
    return ImageFont.load_default(px)


def width_mm(text: str, size_mm: float, bold: bool = False) -> float:
    """Advance width of text in millimetres."""
    return float(font(size_mm, bold).getlength(text)) / PX_PER_MM


@dataclass(frozen=True)
class Text:
    """One line of text: left x and baseline y (mm), measured width and ink box (mm)."""

    text: str
    x: float
    y: float
    size: float
    bold: bool
    color: str
    width: float
    box: tuple[float, float, float, float]  # left, top, right, bottom of the ink


@dataclass(frozen=True)
class Shape:
    """A filled square (QR module area) or a dot (LED colour), in mm."""

    kind: str  # "qr" or "dot"
    x: float
    y: float
    size: float
    color: str = "#000000"
    data: tuple[tuple[bool, ...], ...] = ()


@dataclass
class Layout:
    """Everything on the label, top to bottom; `cursor` is where the next block goes."""

    width: float
    margin: float
    cursor: float
    texts: list[Text] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)

    @property
    def inner(self) -> float:
        """Usable width between the margins."""
        return self.width - 2 * self.margin

    @property
    def height(self) -> float:
        """The label's height: the last block plus the bottom margin, whole millimetres."""
        return float(int(self.cursor + self.margin + 0.999))

    def _place(self, text: str, x: float, size: float, bold: bool, color: str) -> Text:
        f = font(size, bold)
        baseline = self.cursor + size * 0.95
        left, top, right, bottom = f.getbbox(text, anchor="ls")
        box = (x + left / PX_PER_MM, baseline + top / PX_PER_MM, x + right / PX_PER_MM,
               baseline + bottom / PX_PER_MM)
        t = Text(text, x, baseline, size, bold, color, width_mm(text, size, bold), box)
        self.texts.append(t)
        return t

    def line(self, text: str, size: float, *, bold: bool = False, color: str = "#000000",
             min_mm: float | None = None, indent: float = 0.0) -> None:
        """Add text at `size` (shrunk to min_mm, then wrapped) starting at the left margin."""
        avail = self.inner - indent
        while min_mm is not None and size > min_mm and width_mm(text, size, bold) > avail:
            size = max(min_mm, round(size - 0.25, 2))
        for part in wrap(text, size, bold, avail):
            self._place(part, self.margin + indent, size, bold, color)
            self.cursor += size * LINE_GAP

    def gap(self, mm: float) -> None:
        """Vertical space."""
        self.cursor += mm

    def shape(self, s: Shape) -> None:
        """Add a shape (its position is the caller's)."""
        self.shapes.append(s)


def _pieces(word: str, size: float, bold: bool, avail: float) -> list[str]:
    """Split one word that is wider than avail: at URL punctuation, then between characters."""
    out: list[str] = []
    current = ""
    for chunk in _BREAKS.split(word):
        while chunk:
            if width_mm(current + chunk, size, bold) <= avail:
                current, chunk = current + chunk, ""
            elif current:
                out.append(current)
                current = ""
            else:  # a chunk alone is too wide: as many characters as fit (at least one)
                n = max(1, max((i for i in range(1, len(chunk) + 1)
                                if width_mm(chunk[:i], size, bold) <= avail), default=1))
                out.append(chunk[:n])
                chunk = chunk[n:]
    if current:
        out.append(current)
    return out


def wrap(text: str, size: float, bold: bool, avail: float) -> list[str]:
    """Lines of text no wider than avail millimetres."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if width_mm(candidate, size, bold) <= avail:
            current = candidate
            continue
        if current:
            lines.append(current)
            current = ""
        if width_mm(word, size, bold) <= avail:
            current = word
        else:
            *full, current = _pieces(word, size, bold, avail)
            lines.extend(full)
    if current or not lines:
        lines.append(current)
    return lines
