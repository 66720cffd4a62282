"""kotanet-agent as a real process: config errors, Will on SIGKILL, clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from agenttest_central import Central, agent_toml, wait_for

from provisioning.localbroker import LocalBroker

AGENT = [sys.executable, "-m", "agent.cli"]


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Agent processes started by a test; killed at teardown if still running."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


def _start(cfg: Path, procs: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    p = subprocess.Popen([*AGENT, "--config", str(cfg)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    procs.append(p)
    return p


def test_bad_config_prints_one_line_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text('[node]\nid = "n1"\nsite = "s1"\n[agent]\nsample_intervall_s = 5\n')
    r = subprocess.run([*AGENT, "--config", str(cfg), "--check"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "agent.sample_intervall_s" in lines[0]


def test_check_accepts_a_good_config_and_hides_the_password(
        tmp_path: Path, broker: LocalBroker) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(agent_toml(broker, "check-node", tmp_path / "st"))
    r = subprocess.run([*AGENT, "--config", str(cfg), "--check"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "check-node" in r.stdout and "pw-check-node" not in r.stdout + r.stderr


@pytest.mark.broker
def test_sigkill_leaves_retained_offline_will_with_session(
        broker: LocalBroker, central: Central, tmp_path: Path,
        procs: list[subprocess.Popen[bytes]]) -> None:
    node = "cli-kill"
    cfg = tmp_path / "agent.toml"
    cfg.write_text(agent_toml(broker, node, tmp_path / "st"))
    p = _start(cfg, procs)
    birth = wait_for(lambda: central.of("birth", node), timeout=20, what="birth")[0]
    assert birth.role == "office"
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    will = wait_for(lambda: [s for s in central.of("state", node) if not s.online],
                    timeout=15, what="Will after keepalive timeout")[-1]
    assert will.session == birth.session
    late = Central(broker, instance="late-reader")  # a new subscriber sees the retained Will
    try:
        retained = wait_for(lambda: [m for k, m, r in late.msgs if k == "state" and r
                                     and m.node == node], what="retained state")
        assert retained[-1].online is False and retained[-1].session == birth.session
    finally:
        late.close()


@pytest.mark.broker
def test_sigterm_stops_cleanly_with_offline_state_before_disconnect(
        broker: LocalBroker, central: Central, tmp_path: Path,
        procs: list[subprocess.Popen[bytes]]) -> None:
    node = "cli-term"
    cfg = tmp_path / "agent.toml"
    cfg.write_text(agent_toml(broker, node, tmp_path / "st"))
    p = _start(cfg, procs)
    birth = wait_for(lambda: central.of("birth", node), timeout=20, what="birth")[0]
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=20) == 0
    states = wait_for(lambda: [s for s in central.of("state", node) if not s.online],
                      timeout=5, what="offline state")
    assert states[-1].session == birth.session
    assert (tmp_path / "st" / "session").read_text().strip() == str(birth.session)
    log = broker.log_path.read_text()
    assert f"Client kotanet-{node} disconnected." in log  # clean DISCONNECT, no Will
    assert f"Client kotanet-{node} closed its connection." not in log
    assert os.path.exists(tmp_path / "st" / "outbox.sqlite")
