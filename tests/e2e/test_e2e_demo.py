"""`make demo` smoke: 20 live nodes, two quiet minutes (no WARNING/ERROR in any log), clean stop."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from agent.sim.stack import wait_until
from provisioning.localbroker import free_port

ROOT = Path(__file__).resolve().parents[2]
QUIET_S = 120.0  # the bar: two minutes of demo with nothing to warn about
NOISY = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback")


def _log_sizes(logs: Path) -> dict[Path, int]:
    return {p: p.stat().st_size for p in sorted(logs.glob("*.log"))}


def _noisy_lines(logs: Path, since: dict[Path, int]) -> list[str]:
    """WARNING/ERROR/traceback lines written to any demo log after the ``since`` offsets."""
    out = []
    for path in sorted(logs.glob("*.log")):
        with path.open("rb") as fh:
            fh.seek(since.get(path, 0))
            text = fh.read().decode(errors="replace")
        out += [f"{path.name}: {line}" for line in text.splitlines() if NOISY.search(line)]
    return out


def _nodes(http: str, token: str) -> list[dict[str, object]]:
    req = urllib.request.Request(f"http://{http}/api/v1/nodes",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return list(json.loads(resp.read())["nodes"])


@pytest.mark.broker
def test_demo_serves_20_live_nodes_stays_quiet_and_ctrl_c_stops_all(tmp_path: Path) -> None:
    http = f"127.0.0.1:{free_port()}"
    demo = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "demo.py"), "--dir", str(tmp_path / "demo"),
         "--http", http, "--duration", str(QUIET_S + 150)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    children: list[psutil.Process] = []
    try:
        token_file = tmp_path / "demo" / "admin-token"
        wait_until(lambda: token_file.exists() and token_file.read_text().strip(), 60,
                   "the demo's admin token")
        token = token_file.read_text().strip()

        def live() -> list[dict[str, object]]:
            nodes = _nodes(http, token)
            ok = [n for n in nodes if n["online"] and n["users"] is not None
                  and n["cpu_pct"] is not None]
            return ok if len(ok) == 20 else []

        ok = wait_until(live, 60, "20 live nodes in the demo API", step_s=0.5)
        children = psutil.Process(demo.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "mosquitto" in names and "kotanet-central" in names and "kotanet-sim" in names
        assert {n["role"] for n in ok} == {"park", "office"}
        assert os.stat(token_file).st_mode & 0o077 == 0  # the token file is private

        logs = tmp_path / "demo" / "logs"
        since = _log_sizes(logs)  # the fleet is up: from here on nothing may warn
        deadline = time.monotonic() + QUIET_S
        while time.monotonic() < deadline and demo.poll() is None:
            time.sleep(5)
        assert demo.poll() is None, "the demo stopped by itself"
        noisy = _noisy_lines(logs, since)
        assert not noisy, f"{len(noisy)} noisy log line(s) in {QUIET_S:.0f} s:\n" + \
            "\n".join(noisy[:30])
        assert len(since) >= 2, f"expected central and sim logs, found {list(since)}"

        demo.send_signal(signal.SIGINT)  # Ctrl-C
        out, _ = demo.communicate(timeout=60)
        text = out.decode(errors="replace")
        assert demo.returncode == 0, text
        assert f"http://{http}/api/v1/nodes" in text and "curl" in text
        assert token in text
        _, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, f"left running after Ctrl-C: {[p.pid for p in alive]}"
    finally:
        for c in children:
            try:
                os.killpg(c.pid, signal.SIGKILL) if c.pid == os.getpgid(c.pid) else c.kill()
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(timeout=10)
