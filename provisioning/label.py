"""A printable node label: QR code of the node's NOC page URL, with id, site and SSID as text."""

from __future__ import annotations

import logging
from pathlib import Path
from xml.sax.saxutils import escape

import segno

log = logging.getLogger(__name__)

LABEL_W_MM, LABEL_H_MM = 62.0, 29.0  # common thermal label size (e.g. Brother DK-22205 width)


def noc_url(template: str, node: str) -> str:
    """The NOC page of a node: '{node}' in the template is replaced, else the id is appended."""
    return template.replace("{node}", node) if "{node}" in template else f"{template.rstrip('/')}/{node}"


def _qr_path(matrix: list[bytearray] | tuple[bytearray, ...], x0: float, y0: float, module: float) -> str:
    parts = []
    for r, row in enumerate(matrix):
        for c, dark in enumerate(row):
            if dark:
                parts.append(f"M{x0 + c * module:.3f} {y0 + r * module:.3f}h{module:.3f}"
                             f"v{module:.3f}h-{module:.3f}z")
    return "".join(parts)


def label_svg(node: str, url: str, site_name: str = "", ssid: str = "") -> str:
    """The label as an SVG document (millimetre units)."""
    qr = segno.make_qr(url, error="m")
    matrix = qr.matrix
    quiet = 4
    qr_mm = LABEL_H_MM - 2.0
    module = qr_mm / (len(matrix) + 2 * quiet)
    x0 = y0 = 1.0 + quiet * module
    text_x = qr_mm + 3.0
    lines = [(node, 5.0, "bold"), (site_name, 3.0, "normal"), (f"Wi-Fi: {ssid}" if ssid else "", 2.6,
                                                                "normal"), (url, 1.8, "normal")]
    texts, y = [], 7.0
    for content, size, weight in lines:
        if content:
            texts.append(f'<text x="{text_x:.1f}" y="{y:.1f}" font-size="{size}" '
                         f'font-weight="{weight}">{escape(content)}</text>')
            y += size + 2.2
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{LABEL_W_MM}mm" '
            f'height="{LABEL_H_MM}mm" viewBox="0 0 {LABEL_W_MM} {LABEL_H_MM}" '
            f'font-family="DejaVu Sans, Arial, sans-serif">\n'
            f'<title>kotanet node {escape(node)}</title>\n'
            f'<rect width="100%" height="100%" fill="#fff"/>\n'
            f'<path fill="#000" d="{_qr_path(matrix, x0, y0, module)}"/>\n'
            + "\n".join(texts) + "\n</svg>\n")


def write_label(out_dir: Path, node: str, url: str, site_name: str = "",
                ssid: str = "") -> list[Path]:
    """Write <node>-label.svg and <node>-qr.png; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    svg = out_dir / f"{node}-label.svg"
    svg.write_text(label_svg(node, url, site_name, ssid), encoding="utf-8")
    png = out_dir / f"{node}-qr.png"
    segno.make_qr(url, error="m").save(str(png), scale=8, border=4)
    log.info("label for %s written to %s", node, out_dir)
    return [svg, png]
