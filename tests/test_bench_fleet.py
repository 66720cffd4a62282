"""bench/fleet.py on a tiny fleet: well-formed JSON lines, and counts that add up.

20 nodes, a 15 s window, 2 s samples, 5 commands: every node connects as its own MQTT user,
every sample taken in the window is receipted and stored, every command is applied, and each
figure the report promises is there. No timing is asserted (timings belong to the bench).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import KEYS, parse_output  # noqa: E402

NODES, COMMANDS = 20, 5


@pytest.mark.broker
def test_fleet_bench_tiny_run_reports_sane_counts() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fleet.py"), "--nodes", str(NODES),
         "--duration", "15", "--interval", "2", "--commands", str(COMMANDS),
         "--api-period", "1", "--noc-period", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines, headline, why = parse_output(proc.stdout)
    assert headline is not None, why
    assert set(KEYS) <= set(headline)
    by = {line["metric"]: line for line in lines}
    assert all(line["bench"] == "fleet" for line in [*lines, headline])

    setup = by["setup"]
    assert setup["nodes"] == setup["connected"] == NODES
    assert setup["disconnects"] == setup["refused"] == setup["decode_errors"] == 0
    assert setup["central_rejects"] == 0  # every birth, tele, state and ack is valid wire

    integrity = by["ingest_integrity"]
    taken = integrity["samples_taken_in_window"]
    assert taken >= NODES * 5  # 15 s at one sample per 2 s per node, at least
    assert integrity["unreceipted"] == 0
    assert integrity["receipted"] == taken == integrity["stored_in_window"]
    assert integrity["ok"] is True

    cmd = by["command_round_trip_p99"]
    assert cmd["issued"] == cmd["applied"] == COMMANDS, cmd["errors"]
    assert cmd["value"] > 0 and cmd["issue_to_node_p99"] is not None

    for metric in ("api_nodes_p99", "noc_fleet_page_p99"):
        assert by[metric]["requests"] > 0 and by[metric]["errors"] == [], by[metric]
        assert by[metric]["value"] > 0 and by[metric]["anchor"] > 0

    assert by["central_cpu"]["value"] > 0 and by["central_cpu"]["rss_mb_peak"] > 0
    assert by["lag_to_central_receive_p99"]["samples"] == taken

    assert headline["metric"] == "ingest_lag_p99"
    assert headline["samples"] == taken and headline["unreceipted"] == 0
    assert headline["value"] > 0 and headline["anchor"] > 0
    assert isinstance(headline["ok"], bool)
