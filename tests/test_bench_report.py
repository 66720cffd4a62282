"""bench/report.py: table, SVG plot and failure handling, run on fake bench scripts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPORT = Path(__file__).resolve().parents[1] / "bench" / "report.py"
SVG_NS = "{http://www.w3.org/2000/svg}"

OK_BENCH = """
import json, sys
if "--quick" not in sys.argv:
    sys.exit(2)
print("warming up")
print(json.dumps({"detail": "median of 5 runs", "runs": [12.1, 12.5, 13.0]}))
print(json.dumps({"bench": "fake_ok", "metric": "p50_latency", "value": 12.5, "unit": "ms",
                  "goal": 2, "anchor": 50.0, "ratio": 4.0, "ok": True}))
"""
FAIL_BENCH = """
import sys
print("starting")
print("boom: simulated failure", file=sys.stderr)
sys.exit(3)
"""
SLOW_BENCH = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[0] + ".pid", "w").write(str(child.pid))
print("slow bench still running", file=sys.stderr, flush=True)
time.sleep(60)
"""
HELPER = "raise SystemExit('helpers starting with _ must not be run')\n"


def _run(bench_dir: Path, docs: Path, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPORT), "--quick", "--timeout", str(timeout),
                           "--bench-dir", str(bench_dir), "--docs-dir", str(docs)],
                          capture_output=True, text=True, timeout=60)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in state


def test_report_table_svg_and_failures(tmp_path: Path) -> None:
    benches, docs = tmp_path / "bench", tmp_path / "docs"
    benches.mkdir()
    (benches / "fake_ok.py").write_text(OK_BENCH)
    (benches / "fake_fail.py").write_text(FAIL_BENCH)
    (benches / "fake_slow.py").write_text(SLOW_BENCH)
    (benches / "_helper.py").write_text(HELPER)

    proc = _run(benches, docs, timeout=3.0)
    assert proc.returncode == 1, proc.stderr
    md = (docs / "benchmarks.md").read_text()
    assert "| bench | metric | value | unit | goal | anchor | ratio | ok |" in md
    assert "| fake_ok | p50_latency | 12.5 | ms | 2 | 50 | 4 | yes |" in md
    assert "| fake_fail.py | **FAILED**: exit code 3 |" in md
    assert "boom: simulated failure" in md
    assert "| fake_slow.py | **FAILED**: timed out after 3s |" in md
    assert "slow bench still running" in md
    assert "_helper" not in md
    assert "![ratio vs goal per headline](benchmarks.svg)" in md

    svg = ET.parse(docs / "benchmarks.svg").getroot()
    assert svg.tag == f"{SVG_NS}svg"
    bars = [e for e in svg.iter(f"{SVG_NS}rect") if e.get("class") == "bar"]
    goals = [e for e in svg.iter(f"{SVG_NS}line") if e.get("class") == "goal"]
    assert len(bars) == 1 and bars[0].get("fill") == "#2e7d32"
    assert len(goals) == 1
    bar_end = float(bars[0].get("x", 0)) + float(bars[0].get("width", 0))
    assert bar_end > float(goals[0].get("x1", 0)), "ratio 4 must reach past goal 2"
    assert any("fake_ok: p50_latency" in (t.text or "") for t in svg.iter(f"{SVG_NS}text"))

    grandchild = int((benches / "fake_slow.py.pid").read_text())
    deadline = time.monotonic() + 5
    while not _gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(grandchild), "a timed-out bench's whole process group must be killed"


def test_all_ok_exits_zero_and_missed_goal_is_not_a_failure(tmp_path: Path) -> None:
    benches, docs = tmp_path / "bench", tmp_path / "docs"
    benches.mkdir()
    (benches / "fake_ok.py").write_text(OK_BENCH)
    headline = {"bench": "fake_slowpath", "metric": "rps", "value": 90, "unit": "1/s",
                "goal": 10, "anchor": 30, "ratio": 3.0, "ok": False}
    (benches / "fake_missed.py").write_text(f"print({json.dumps(json.dumps(headline))})\n")
    (benches / "fake_nohead.py").write_text("print('no json here')\n")
    proc = _run(benches, docs)
    md = (docs / "benchmarks.md").read_text()
    assert "| fake_slowpath | rps | 90 | 1/s | 10 | 30 | 3 | **no** |" in md
    assert "fake_nohead.py | **FAILED**: last stdout line is not a JSON object headline" in md
    assert proc.returncode == 1
    (benches / "fake_nohead.py").unlink()
    assert _run(benches, docs).returncode == 0
    svg = (docs / "benchmarks.svg").read_text()
    assert svg.count('class="bar"') == 2 and "#c62828" in svg
