"""Inventories as people save them: Excel with the Indonesian regional setting (';' between
columns, decimal commas, thousands dots), ANSI (Windows-1252) with an en dash, UTF-8 with a BOM,
Excel "Unicode text" (UTF-16, tabs). What was found is said; nothing ends in a traceback."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from provhelp import SAMPLE

from provisioning.cli import main
from provisioning.inventory import load_inventory
from provisioning.rules import validate

CSV_DIR = SAMPLE.parent / "csv"


def rows(name: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO((CSV_DIR / name).read_text(encoding="utf-8"))))


def write_csv(where: Path, name: str, table: list[list[str]], delimiter: str,
              encoding: str) -> None:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(table)
    where.mkdir(parents=True, exist_ok=True)
    (where / name).write_bytes(buf.getvalue().encode(encoding))


def excel_indonesian(where: Path, encoding: str = "cp1252") -> Path:
    """sites.csv + nodes.csv as Excel saves them with the Indonesian regional setting."""
    sites = rows("sites.csv")
    col = {c: i for i, c in enumerate(sites[0])}
    for r in sites[1:]:
        r[col["lat"]] = r[col["lat"]].replace(".", ",")
        r[col["lon"]] = r[col["lon"]].replace(".", ",")
        r[col["capacity_down_kbps"]] = f"{int(r[col['capacity_down_kbps']]):,}".replace(",", ".")
    sites[1][col["name"]] = "Taman Kota – Sampit"  # an en dash (0x96 in Windows-1252)
    write_csv(where, "sites.csv", sites, ";", encoding)
    write_csv(where, "nodes.csv", rows("nodes.csv"), ";", encoding)
    return where


def test_excel_semicolons_decimal_commas_and_ansi_read_like_the_yaml(tmp_path: Path) -> None:
    raw = load_inventory(excel_indonesian(tmp_path / "excel"))
    inv, issues = validate(raw)
    assert issues == [] and inv is not None
    ref, _ = validate(load_inventory(SAMPLE))
    assert ref is not None
    site = inv.sites["taman-kota-sampit"]
    assert site.name == "Taman Kota – Sampit"
    assert (site.lat, site.lon, site.capacity_down_kbps) == (-2.5386, 112.9481, 100000)
    assert inv.sites["kantor-bupati"] == ref.sites["kantor-bupati"]
    for node_id, node in inv.nodes.items():
        assert node.uplinks == ref.nodes[node_id].uplinks and node.ssid == ref.nodes[node_id].ssid
    found = {(Path(n.file).name, n.code) for n in raw.notes}
    assert found == {("sites.csv", "n_csv_format"), ("nodes.csv", "n_csv_format"),
                     ("sites.csv", "n_decimal_comma"), ("sites.csv", "n_thousands_dot")}
    fmt = next(n for n in raw.notes if n.code == "n_csv_format")
    assert fmt.params == {"delimiter": "delim_semicolon", "encoding": "enc_cp1252"}


def test_validate_says_what_it_found_in_indonesian(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder = excel_indonesian(tmp_path / "excel")
    assert main(["--lang", "id", "validate", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (f"{folder / 'sites.csv'}: (berkas): dibaca dengan pemisah ';' (titik koma, Excel "
            "dengan pengaturan wilayah Indonesia), pengodean Windows-1252 (ANSI)") in out
    assert f"{folder / 'sites.csv'}:2: lat, lon: koma desimal dibaca sebagai titik " \
           "(4 nilai, baris 2-3)" in out
    assert out[-1] == "Inventaris benar: 2 lokasi, 2 node."


@pytest.mark.parametrize(("encoding", "found"), [("utf-8-sig", "enc_utf_8_bom"),
                                                 ("utf-8", "enc_utf_8"),
                                                 ("utf-16", "enc_utf_16")])
def test_utf8_with_and_without_bom_and_utf16(tmp_path: Path, encoding: str, found: str) -> None:
    delimiter = "\t" if encoding == "utf-16" else ","
    for name in ("sites.csv", "nodes.csv"):
        table = rows(name)
        if name == "sites.csv":
            table[2][1] = "Kantor Bupati – Kotim"
        write_csv(tmp_path, name, table, delimiter, encoding)
    raw = load_inventory(tmp_path)
    inv, issues = validate(raw)
    assert issues == [] and inv is not None
    assert inv.sites["kantor-bupati"].name == "Kantor Bupati – Kotim"
    assert {n.params["encoding"] for n in raw.notes if n.code == "n_csv_format"} == {found}


def test_bytes_in_no_known_encoding_are_one_error_with_the_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("sites.csv", "nodes.csv"):
        (tmp_path / name).write_bytes((CSV_DIR / name).read_bytes())
    sites = (tmp_path / "sites.csv").read_bytes().replace(b"Taman Kota", b"Taman \x81\x8d Kota")
    (tmp_path / "sites.csv").write_bytes(sites)
    assert main(["--lang", "id", "validate", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path / 'sites.csv'}:2: (berkas): pengodean tidak dikenal (byte 0x81" in out
    assert "Traceback" not in out and "UnicodeDecodeError" not in out


def test_yaml_in_ansi_and_yaml_mistakes_in_indonesian(tmp_path: Path) -> None:
    text = SAMPLE.read_text().replace("name: Taman Religi Sampit", "name: Taman Religi – Sampit")
    ansi = tmp_path / "ansi.yaml"
    ansi.write_bytes(text.encode("cp1252"))
    raw = load_inventory(ansi)
    inv, issues = validate(raw)
    assert issues == [] and inv is not None
    assert inv.sites["taman-religi"].name == "Taman Religi – Sampit"
    assert [(n.code, n.params) for n in raw.notes] == [("n_yaml_encoding",
                                                        {"encoding": "enc_cp1252"})]
    tabbed = tmp_path / "tab.yaml"
    tabbed.write_text(SAMPLE.read_text().replace("    kind: park\n", "\tkind: park\n", 1))
    _, issues = validate(load_inventory(tabbed))
    assert [i.code for i in issues] == ["e_yaml_tab"]
    unquoted = tmp_path / "colon.yaml"
    unquoted.write_text(SAMPLE.read_text().replace("name: Taman Kota Sampit",
                                                   "name: Taman: Kota Sampit", 1))
    _, issues = validate(load_inventory(unquoted))
    assert [(i.line, i.code) for i in issues] == [(8, "e_yaml_colon")]


def test_the_excel_example_of_the_repository_validates(capsys: pytest.CaptureFixture[str]) -> None:
    folder = SAMPLE.parent / "csv-excel-id"
    assert (folder / "sites.csv").read_bytes().count(b"\x96") == 1  # an ANSI en dash
    assert main(["--lang", "id", "validate", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "pemisah ';'" in out and "Windows-1252 (ANSI)" in out and "koma desimal" in out


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_old_mac_line_endings_read_like_any_other(tmp_path: Path, delimiter: str) -> None:
    """Bare "\\r" line ends ("CSV (Macintosh)") once crashed picking the separator (fuzz)."""
    for name in ("sites.csv", "nodes.csv"):
        buf = io.StringIO()
        csv.writer(buf, delimiter=delimiter, lineterminator="\r").writerows(rows(name))
        (tmp_path / name).write_bytes(buf.getvalue().encode("utf-8"))
    inv, issues = validate(load_inventory(tmp_path))
    assert issues == [] and inv is not None and "tks-01" in inv.nodes
