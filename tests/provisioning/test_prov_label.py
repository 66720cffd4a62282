"""The node label: rendered to PNG and checked from the layout engine's measured extents and
from the pixels: nothing outside its bounds or overlapping, Indonesian first, every field, a
QR code that encodes the install-check URL of the deployment settings."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import segno
from PIL import Image
from provhelp import make_deployment

from provisioning.cli import main
from provisioning.deployment import Deployment
from provisioning.label import LABEL_W_MM, MARGIN_MM, MIN_MM, LabelInfo, layout, qr_module_px
from provisioning.labellayout import PX_PER_MM, Layout

SVG = {"s": "http://www.w3.org/2000/svg"}


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return make_deployment(tmp_path_factory.mktemp("label"),
                           extra=("--helpdesk", "0531-21000 (WA 0812-5555-0101)"))


def assert_inside_and_apart(lay: Layout) -> None:
    """Every text's ink inside the margins, no two texts (or a text and the QR) overlapping."""
    lo, hi = MARGIN_MM - 0.01, lay.width - MARGIN_MM + 0.01
    boxes = [t.box for t in lay.texts]
    for t in lay.texts:
        left, top, right, bottom = t.box
        assert lo <= left and right <= hi and t.x + t.width <= hi, t
        assert MARGIN_MM - 0.5 <= top and bottom <= lay.height - MARGIN_MM + 0.01, t
        assert t.size >= MIN_MM - 1e-9, t
    for s in lay.shapes:
        assert lo <= s.x and s.x + s.size <= hi and s.y + s.size <= lay.height - MARGIN_MM
        boxes.append((s.x, s.y, s.x + s.size, s.y + s.size))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, (a, b)


def assert_margins_blank(png: Path) -> None:
    """No ink in the 2 mm band around the edge: nothing was cut at the label's edge."""
    img = Image.open(png).convert("L")
    w, h = img.size
    band = round(2 * PX_PER_MM)
    for box in ((0, 0, w, band), (0, h - band, w, h), (0, 0, band, h), (w - band, 0, w, h)):
        assert img.crop(box).getextrema()[0] >= 250, box


def test_label_has_every_field_indonesian_first_and_nothing_cut(
        dep: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lang", "id", "-d", str(dep.root), "label", "bupati-01", "--out", str(tmp_path),
                 "--date", "2026-12-07"]) == 0
    assert "Label ditulis:" in capsys.readouterr().out
    png = tmp_path / "bupati-01-label.png"
    img = Image.open(png)
    assert img.size[0] == round(LABEL_W_MM * PX_PER_MM)
    assert_margins_blank(png)
    info = LabelInfo("bupati-01", "Kantor Bupati Kotawaringin Timur", "Pemkab-Kotim",
                     "https://noc.kotimkab.go.id/install/bupati-01",
                     "0531-21000 (WA 0812-5555-0101)", "2026-12-07")
    lay = layout(info)
    assert_inside_and_apart(lay)
    assert img.size[1] == round(lay.height * PX_PER_MM)
    text = " ".join(t.text for t in lay.texts)
    for needed in ("bupati-01", "Kantor Bupati Kotawaringin", "Pemkab-Kotim",
                   "Bantuan / Helpdesk: 0531-21000", "Dipasang / Installed: 2026-12-07",
                   "hijau menyala: normal", "merah menyala: server tak terjangkau",
                   "semua mati: tanpa listrik", "Pindai: cek pemasangan",
                   "https://noc.kotimkab.go.id/install/bupati-01"):
        assert needed in text, needed
    order = [t.text for t in lay.texts]
    assert order.index("Pindai: cek pemasangan") < order.index("Scan: installation check")
    assert order.index("Arti lampu") < order.index("Light meaning")
    # the SVG carries the same texts pinned to their measured widths
    svg = ET.parse(tmp_path / "bupati-01-label.svg").getroot()
    texts = svg.findall("s:text", SVG)
    assert [t.text for t in texts] == order
    for t in texts:
        assert float(t.attrib["x"]) + float(t.attrib["textLength"]) <= LABEL_W_MM - MARGIN_MM + 0.01


def test_the_qr_code_is_the_install_check_url(dep: Deployment, tmp_path: Path) -> None:
    assert main(["-d", str(dep.root), "label", "tks-01", "--out", str(tmp_path)]) == 0
    url = "https://noc.kotimkab.go.id/install/tks-01"
    lay = layout(LabelInfo("tks-01", "Taman Kota Sampit", "Sampit Free WiFi", url, "x", "d"))
    qr = next(s for s in lay.shapes if s.kind == "qr")
    matrix = segno.make_qr(url, error="m").matrix
    assert qr.data == tuple(tuple(bool(c) for c in row) for row in matrix)
    img = Image.open(tmp_path / "tks-01-label.png").convert("L")
    module = qr_module_px(qr)
    x0, y0 = round(qr.x * PX_PER_MM), round(qr.y * PX_PER_MM)
    for r, row in enumerate(matrix):  # the printed modules are the URL's QR code
        for c, dark in enumerate(row):
            px = img.getpixel((x0 + (c + 4) * module + module // 2,
                               y0 + (r + 4) * module + module // 2))
            assert (px < 128) == bool(dark), (r, c)
    assert module / PX_PER_MM >= 0.7  # modules of at least 0.7 mm: phones read them


def test_long_names_wrap_inside_the_label(tmp_path: Path) -> None:
    info = LabelInfo("kantor-dinas-komunikasi-informatika-statistik-dan-persandian-01",
                     "Dinas Komunikasi, Informatika, Statistik dan Persandian Kabupaten "
                     "Kotawaringin Timur (Gedung B, Lantai 2)",
                     "Diskominfo-Kotim-Lantai2-Ruang-Rapat",
                     "https://noc.kotimkab.go.id/install/kantor-dinas-komunikasi-informatika-"
                     "statistik-dan-persandian-01", "0531-21000", "2026-12-07")
    lay = layout(info)
    assert_inside_and_apart(lay)
    joined = "".join(t.text for t in lay.texts)
    assert info.node in joined and info.url in joined  # wrapped, never cut


def test_install_url_comes_from_the_deployment_settings(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path)
    assert dep.settings.install_url == "https://noc.kotimkab.go.id/install/{node}"
    settings = json.loads((dep.root / "deployment.json").read_text())
    del settings["install_url"]  # a deployment made before labels had an install check
    settings["noc_url"] = "https://noc.example.test/noc/nodes/{node}"
    (dep.root / "deployment.json").write_text(json.dumps(settings))
    assert Deployment(dep.root).settings.install_url == "https://noc.example.test/install/{node}"
    capsys.readouterr()
    assert main(["--lang", "en", "-d", str(dep.root), "label", "tks-02", "--out",
                 str(tmp_path / "l")]) == 0
    out = capsys.readouterr().out
    assert "Note: the label has no helpdesk number." in out
    texts = [t.text for t in ET.parse(tmp_path / "l/tks-02-label.svg").getroot()
             .findall("s:text", SVG)]
    assert "https://noc.example.test/install/tks-02" in texts
