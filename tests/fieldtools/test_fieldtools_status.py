"""`kotanet-agent status`: the snapshot's facts as text and JSON, Indonesian and English, exit
statuses for a missing and a stale snapshot, the language choice, and --help that teaches."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from snapshots import snapshot

from agent.fieldtools import i18n
from agent.fieldtools.cli import build_parsers
from agent.fieldtools.snapfile import read_snapshot, write_file
from agent.fieldtools.status import EXIT_NONE, EXIT_OK, EXIT_STALE, run_status
from agent.fieldtools.view import build_view

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp: Path, **changes: object) -> Path:
    path = tmp / "status.json"
    snap = snapshot(**changes)
    snap.pop("age_s")
    write_file(path, json.dumps(snap).encode())
    return path


def _text(path: Path, lang: str) -> tuple[int, str]:
    out = io.StringIO()
    return run_status(str(path), lang, False, out), out.getvalue()


def test_text_shows_every_fact_in_english(tmp_path: Path) -> None:
    rc, text = _text(_write(tmp_path), "en")
    assert rc == EXIT_OK
    for expected in ("Node tks-01 status · site taman-kota-sampit",
                     "! degraded: standby uplink down · updated",
                     "✓ fiber (eth0)", "primary · ACTIVE · up · RTT 12.5 ms · loss 0 %",
                     "! lte (wwan0)", "backup · standby · degraded · RTT 48 ms · loss 6.5 %",
                     "Present now", "39", "Wi-Fi (hostapd)", "37", "Portal (openNDS)", "30",
                     "from central, version 7: download 20 Mbit/s, upload 5 Mbit/s",
                     "download 2 Mbit/s, upload 512 kbit/s", "4 min 10 s left of 15 min",
                     "mqtt.kotimkab.go.id:8883 · connected since", "online (central-1)",
                     "30 s ago (up to seq 9001)", "seq 9002, 1 min ago",
                     "synchronised (NTP)", "set_throttle v7", "accepted → applied (ok)",
                     "Green", "Amber", "Red", "CPU", "52.3 °C"):
        assert expected in text, expected


def test_text_in_indonesian_uses_the_decimal_comma(tmp_path: Path) -> None:
    rc, text = _text(_write(tmp_path), "id")
    assert rc == EXIT_OK
    for expected in ("Status node tks-01 · lokasi taman-kota-sampit",
                     "menurun: jalur cadangan mati", "utama · AKTIF · baik · RTT 12,5 ms",
                     "cadangan · siaga · menurun · RTT 48 ms · hilang 6,5 %",
                     "Di lokasi sekarang", "dari pusat, versi 7: unduh 20 Mbit/s, unggah 5 Mbit/s",
                     "sisa 4 mnt 10 dtk dari 15 mnt", "terhubung sejak",
                     "30 dtk lalu (sampai seq 9001)", "diterima → diterapkan (ok)",
                     "Hijau", "Kuning", "Merah", "menyala", "52,3 °C"):
        assert expected in text, expected
    assert "degraded" not in text and "ACTIVE" not in text


def test_json_is_the_snapshot_with_age_and_staleness(tmp_path: Path) -> None:
    out = io.StringIO()
    assert run_status(str(_write(tmp_path)), "en", True, out) == EXIT_OK
    doc = json.loads(out.getvalue())
    assert doc["uplinks"][0]["rtt_ms"] == 12.5 and doc["stale"] is False and doc["age_s"] < 5
    assert doc["broker"]["last_receipt_seq"] == 9001


def test_missing_and_stale_snapshots(tmp_path: Path) -> None:
    rc, text = _text(tmp_path / "absent.json", "id")
    assert rc == EXIT_NONE and "Agen tidak berjalan" in text
    path = _write(tmp_path)
    old = time.time() - 125  # more than three sample intervals (10 s) + grace ago
    os.utime(path, (old, old))
    rc, text = _text(path, "en")
    assert rc == EXIT_STALE and "has not been updated for 2 min" in text
    path.write_text("{broken")
    assert read_snapshot(path) is None
    path.write_text(json.dumps({"schema": "something/else"}))
    assert read_snapshot(path) is None


def test_no_uplinks_no_sample_no_shaping_no_command(tmp_path: Path) -> None:
    view = build_view(snapshot(uplinks=[], users=None, throttle=None, command=None,
                               leds={"ok": "blink 1/1", "warn": "off", "fail": "blink 0.25/0.25",
                                     "text": "no uplink", "hardware": False}), "en")
    rows = {s.key: [(r.label, r.value, r.level) for r in s.rows] for s in view.sections}
    assert rows["uplinks"] == [("-", "no uplink configured", "warn")]
    assert rows["users"] == [("Present now", "no measurement yet", "warn")]
    assert rows["throttle"][0][1] == "shaping is not enabled on this node"
    assert rows["command"][0][1] == "no command since the agent started"
    assert ("Green", "blinking 1 s", "info") in rows["leds"]
    assert ("Red", "blinking 0.25 s", "info") in rows["leds"]
    assert "(no LEDs fitted on this node)" in rows["leds"][-1][1]


def test_led_texts_translate_every_pattern_part() -> None:
    parts = ["no uplink", "broker lost, reconnecting", "on backup uplink", "identify",
             "provisioning", "ok"]
    for part in parts:
        assert i18n.led_text("id", part) != part, part
    assert i18n.led_text("id", "no broker for 300s or more") == "broker tak terjangkau >= 5 menit"
    assert i18n.led_text("id", "degraded: under-voltage, Pi throttled, outbox backlog, "
                               "central offline") == ("menurun: tegangan kurang, Pi melambat, "
                                                      "antrean data menumpuk, pusat offline")


def test_catalogue_is_complete_and_placeholders_match() -> None:
    for key, (id_, en) in i18n.TEXTS.items():
        assert id_ and en, key
        assert set(re.findall(r"{(\w+)}", id_)) == set(re.findall(r"{(\w+)}", en)), key


@pytest.mark.parametrize("env,want", [({"LANG": "id_ID.UTF-8"}, "id"), ({"LANG": "en_US"}, "en"),
                                      ({"LC_ALL": "id_ID", "LANG": "en_US"}, "id"), ({}, "en"),
                                      ({"LC_MESSAGES": "en_GB", "LANG": "id_ID"}, "en")])
def test_language_from_the_environment(env: dict[str, str], want: str) -> None:
    assert i18n.pick_lang(None, env) == want
    assert i18n.pick_lang("en", {"LANG": "id_ID.UTF-8"}) == "en"


def test_every_command_has_help_with_examples() -> None:
    for name, parser in build_parsers().items():
        text = parser.format_help()
        assert "examples:" in text and f"kotanet-agent {name}" in text and "exit status" in text


def test_cli_status_reads_the_config_and_never_loads_pydantic(tmp_path: Path) -> None:
    status = _write(tmp_path)
    conf = tmp_path / "agent.toml"
    conf.write_text(f'[node]\nid = "tks-01"\nsite = "s"\n[agent]\nstatus_file = "{status}"\n')
    code = ("import sys; from agent.cli import main; rc = main(['status', '--config', "
            f"{str(conf)!r}, '--json']); print('PYDANTIC' if 'pydantic' in sys.modules else "
            "'LIGHT', rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, env={**os.environ, "LANG": "C.UTF-8"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "LIGHT 0"
    assert '"config_hash": "0123456789abcdef"' in proc.stdout
