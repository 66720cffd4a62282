"""Inventory validation: every mistake reported at once with file, line and field; nothing written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from provhelp import SAMPLE, make_deployment

from provisioning.cli import main
from provisioning.inventory import load_inventory
from provisioning.rules import validate

DATA = Path(__file__).parent / "data"
BROKEN = DATA / "broken.yaml"

# (line, field, code) of every mistake planted in data/broken.yaml
EXPECTED = {
    (11, "id", "e_duplicate"),                      # site id given twice
    (21, "kind", "e_choice"),                       # kind 'kantor'
    (22, "lat", "e_range"),                         # lat 112.9 (swapped with lon)
    (23, "lon", "e_coords_outside"),                # lon -2.5 is not in Indonesia
    (35, "id", "e_duplicate"),                      # node id given twice
    (42, "id", "e_bad_id"),                         # 'tks/+02' breaks MQTT topics
    (50, "site", "e_unknown_site"),                 # site not in the sites list
    (55, "lan_subnet", "e_subnet_overlap"),         # 10.20.1.128/25 inside tks-01's /24
    (58, "board", "e_unknown_board"),               # pi6
    (60, "uplinks[0].gateway", "e_bad_ip"),         # 10.1.0.300
    (61, "wifi.ssid", "e_ssid_len"),                # 38 bytes
    (61, "wifi.passphrase", "e_wpa_len"),           # 'short'
    (61, "wifi.channel", "e_channel_country"),      # 14 is Japan-only
    (63, "gpio.led_warn", "e_gpio_conflict"),       # 17 used twice
    (63, "gpio.button", "e_range"),                 # GPIO 40 does not exist
    (69, "wifi.channel", "e_channel_country"),      # 165 reaches past 5825 MHz
    (71, "colour", "e_unknown_field"),              # typo / unknown column
    (72, "nodes", "e_malformed_row"),               # not a mapping
}


def test_broken_inventory_reports_every_mistake_with_line_and_field() -> None:
    inv, issues = validate(load_inventory(BROKEN))
    assert inv is None
    got = {(i.line, i.field, i.code) for i in issues}
    assert got == EXPECTED
    assert all(i.file == str(BROKEN) for i in issues)


def test_validate_cli_prints_all_errors_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--lang", "en", "validate", str(BROKEN)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"{BROKEN}:61: wifi.passphrase: WPA passphrase must be 8-63 printable ASCII characters (has 5)" in out
    assert f"{BROKEN}:55: lan_subnet: 10.20.1.128/25 overlaps 10.20.1.0/24 of node tks-01" in out
    assert out[-1] == f"{len(EXPECTED)} error(s) in the inventory; nothing was written."
    assert main(["--lang", "id", "validate", str(BROKEN)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{len(EXPECTED)} kesalahan dalam inventaris; tidak ada yang ditulis.")


def test_build_with_errors_writes_nothing(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path, build=False)
    before = sorted(p.relative_to(dep.root) for p in dep.root.rglob("*"))
    passwd = (dep.broker_dir / "passwd").read_text()
    out = tmp_path / "bundles"
    assert main(["-d", str(dep.root), "build", str(BROKEN), "--out", str(out)]) == 1
    assert not out.exists()
    assert sorted(p.relative_to(dep.root) for p in dep.root.rglob("*")) == before
    assert (dep.broker_dir / "passwd").read_text() == passwd


def test_outdoor_5ghz_and_office_open_network_are_rejected(tmp_path: Path) -> None:
    text = SAMPLE.read_text()
    text = text.replace('{ssid: "Sampit Free WiFi", open: true, channel: 1}',
                        '{ssid: "Sampit Free WiFi", open: true, channel: 36}')
    text = text.replace('{ssid: "Pemkab-Kotim", passphrase: "ganti-sandi-ini-2026", channel: 36}',
                        '{ssid: "Pemkab-Kotim", open: true, channel: 36}')
    bad = tmp_path / "inv.yaml"
    bad.write_text(text)
    _, issues = validate(load_inventory(bad))
    assert {(i.field, i.code) for i in issues} == {("wifi.channel", "e_channel_outdoor"),
                                                   ("wifi.open", "e_open_office")}


def test_sample_inventories_are_valid_and_csv_equals_yaml_subset(tmp_path: Path) -> None:
    yaml_inv, issues = validate(load_inventory(SAMPLE))
    assert issues == [] and yaml_inv is not None and len(yaml_inv.nodes) == 5
    csv_inv, issues = validate(load_inventory(SAMPLE.parent / "csv"))
    assert issues == [] and csv_inv is not None
    for node_id, node in csv_inv.nodes.items():
        assert node == yaml_inv.nodes[node_id]


def test_broken_csv_rows_report_their_line(tmp_path: Path) -> None:
    shutil.copytree(SAMPLE.parent / "csv", tmp_path / "csv")
    nodes = tmp_path / "csv" / "nodes.csv"
    lines = nodes.read_text().splitlines()
    lines.append("tks-09,taman-kota-sampit,pi4")                       # line 4: too few columns
    lines.append(lines[2].replace("bupati-01", "bupati-02").replace(",36,", ",13,")
                 .replace("10.30.1.0/24", "10.30.1.0/33"))          # line 5: bad subnet
    nodes.write_text("\n".join(lines) + "\n")
    _, issues = validate(load_inventory(nodes))
    assert {(i.line, i.field, i.code) for i in issues} == {
        (4, "(row)", "e_csv_columns"), (5, "lan_subnet", "e_bad_subnet")}


def test_ssid_with_a_newline_cannot_inject_hostapd_lines(tmp_path: Path) -> None:
    text = SAMPLE.read_text().replace('ssid: "Pemkab-Kotim"', 'ssid: "Pemkab\\nwpa=0"')
    bad = tmp_path / "inv.yaml"
    bad.write_text(text)
    _, issues = validate(load_inventory(bad))
    assert [(i.field, i.code) for i in issues] == [("wifi.ssid", "e_ssid_chars")]
