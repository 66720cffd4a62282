"""A node label a person can read on a pole: Indonesian first (English below, smaller), node,
site, SSID, a QR code of the NOC's install check (no login), the LED legend, the helpdesk
number and the install date. 62 mm wide (continuous rolls such as Brother DK-22205), as tall
as its content; written as SVG (text pinned to its measured width) and as a 300 dpi PNG."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import segno
from PIL import Image, ImageDraw

from provisioning.i18n import CATALOGUE
from provisioning.labellayout import PX_PER_MM, Layout, Shape, font

log = logging.getLogger(__name__)

LABEL_W_MM, MARGIN_MM = 62.0, 3.0
QR_MM = 30.0
GREY = "#444444"
MIN_MM = 2.5  # no text smaller than this em size (about 1.8 mm capitals)
#: LED legend rows: (catalogue key, dot colour) - meanings as in agent/policy/leds.py
LEDS = (("lbl_led_green", "#1a9c3c"), ("lbl_led_green_blink", "#1a9c3c"),
        ("lbl_led_amber", "#f0a000"), ("lbl_led_red_fast", "#d02020"),
        ("lbl_led_red", "#d02020"), ("lbl_led_off", "#9a9a9a"))


@dataclass(frozen=True)
class LabelInfo:
    """What goes on one node's label."""

    node: str
    site: str
    ssid: str
    url: str
    helpdesk: str
    installed: str


def install_url(template: str, node: str) -> str:
    """The install-check URL of a node: '{node}' in the template, else the id appended."""
    return template.replace("{node}", node) if "{node}" in template else f"{template.rstrip('/')}/{node}"


def _both(lay: Layout, key: str, size: float, *, bold: bool = False, indent: float = 0.0,
          **kw: str) -> None:
    """The Indonesian text, then the English one smaller and grey."""
    entry = CATALOGUE[key]
    lay.line(entry["id"].format(**kw), size, bold=bold, min_mm=MIN_MM, indent=indent)
    lay.line(entry["en"].format(**kw), max(MIN_MM, size - 0.5), color=GREY, min_mm=MIN_MM,
             indent=indent)


def _field(lay: Layout, key: str, size: float, *, bold: bool = False, **kw: str) -> None:
    """A labelled value (the Indonesian text names the field in both languages); a long value
    is set at most 0.4 mm smaller, then wrapped."""
    lay.line(CATALOGUE[key]["id"].format(**kw), size, bold=bold, min_mm=size - 0.4)


def layout(info: LabelInfo) -> Layout:
    """Place everything; the label is as tall as it needs to be."""
    lay = Layout(LABEL_W_MM, MARGIN_MM, MARGIN_MM)
    _both(lay, "lbl_title", 3.0, bold=True)
    lay.gap(1.0)
    lay.line(info.node, 7.0, bold=True, min_mm=4.0)
    _field(lay, "lbl_site", 3.4, site=info.site)
    if info.ssid:
        _field(lay, "lbl_ssid", 3.4, ssid=info.ssid)
    lay.gap(1.0)
    qr = segno.make_qr(info.url, error="m")
    matrix = tuple(tuple(bool(c) for c in row) for row in qr.matrix)
    lay.shape(Shape("qr", (LABEL_W_MM - QR_MM) / 2, lay.cursor, QR_MM, data=matrix))
    lay.gap(QR_MM + 1.0)
    _both(lay, "lbl_scan", 3.0, bold=True)
    lay.line(info.url, MIN_MM, color=GREY)
    lay.gap(1.5)
    _both(lay, "lbl_leds", 3.0, bold=True)
    for key, colour in LEDS:
        lay.shape(Shape("dot", MARGIN_MM, lay.cursor + 0.5, 2.4, colour))
        _both(lay, key, 3.0, indent=3.6)
    lay.gap(1.5)
    if info.helpdesk:
        _field(lay, "lbl_helpdesk", 3.4, bold=True, number=info.helpdesk)
    _field(lay, "lbl_installed", 3.0, date=info.installed)
    return lay


def label_svg(lay: Layout, title: str) -> str:
    """The label as an SVG document (millimetre units); each text is pinned to its width."""
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" '
             f'width="{lay.width:g}mm" height="{lay.height:g}mm" '
             f'viewBox="0 0 {lay.width:g} {lay.height:g}" '
             f'font-family="DejaVu Sans, Verdana, sans-serif">',
             f"<title>{escape(title)}</title>", '<rect width="100%" height="100%" fill="#fff"/>']
    for s in lay.shapes:
        if s.kind == "dot":
            r = s.size / 2
            parts.append(f'<circle cx="{s.x + r:.3f}" cy="{s.y + r:.3f}" r="{r:.3f}" '
                         f'fill="{s.color}"/>')
            continue
        module = s.size / (len(s.data) + 8)  # quiet zone of 4 modules around
        path = "".join(f"M{s.x + (c + 4) * module:.3f} {s.y + (r + 4) * module:.3f}"
                       f"h{module:.3f}v{module:.3f}h-{module:.3f}z"
                       for r, row in enumerate(s.data) for c, dark in enumerate(row) if dark)
        parts.append(f'<path fill="#000" d="{path}"/>')
    for t in lay.texts:
        weight = "bold" if t.bold else "normal"
        parts.append(f'<text x="{t.x:.3f}" y="{t.y:.3f}" font-size="{t.size:g}" '
                     f'font-weight="{weight}" fill="{t.color}" textLength="{t.width:.3f}" '
                     f'lengthAdjust="spacingAndGlyphs">{escape(t.text)}</text>')
    return "\n".join(parts) + "\n</svg>\n"


def qr_module_px(s: Shape) -> int:
    """Whole pixels per QR module in the PNG (crisp modules, quiet zone of 4 included)."""
    return max(1, int(s.size * PX_PER_MM / (len(s.data) + 8)))


def label_png(lay: Layout) -> Image.Image:
    """The label drawn at 300 dpi with the fonts it was measured with."""
    img = Image.new("RGB", (round(lay.width * PX_PER_MM), round(lay.height * PX_PER_MM)), "white")
    draw = ImageDraw.Draw(img)
    for s in lay.shapes:
        x, y = s.x * PX_PER_MM, s.y * PX_PER_MM
        if s.kind == "dot":
            d = s.size * PX_PER_MM
            draw.ellipse((x, y, x + d, y + d), fill=s.color)
            continue
        module = qr_module_px(s)
        for r, row in enumerate(s.data):
            for c, dark in enumerate(row):
                if dark:
                    x0, y0 = round(x) + (c + 4) * module, round(y) + (r + 4) * module
                    draw.rectangle((x0, y0, x0 + module - 1, y0 + module - 1), fill="black")
    for t in lay.texts:
        draw.text((t.x * PX_PER_MM, t.y * PX_PER_MM), t.text, fill=t.color,
                  font=font(t.size, t.bold), anchor="ls")
    return img


def write_label(out_dir: Path, info: LabelInfo) -> list[Path]:
    """Write <node>-label.svg, <node>-label.png and <node>-qr.png; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lay = layout(info)
    svg = out_dir / f"{info.node}-label.svg"
    svg.write_text(label_svg(lay, f"kotanet {info.node}"), encoding="utf-8")
    png = out_dir / f"{info.node}-label.png"
    label_png(lay).save(png, dpi=(300, 300))
    qr = out_dir / f"{info.node}-qr.png"
    segno.make_qr(info.url, error="m").save(str(qr), scale=8, border=4)
    log.info("label for %s written to %s (%.0f x %.0f mm)", info.node, out_dir, lay.width,
             lay.height)
    return [svg, png, qr]
