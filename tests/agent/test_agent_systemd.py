"""sd_notify over a real unix datagram socket: READY, WATCHDOG after samples, STOPPING."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from agenttest_central import agent_toml

from agent.systemd import Notifier
from provisioning.localbroker import LocalBroker


def _recv_all(sock: socket.socket, until: str, limit: int = 200) -> list[str]:
    got: list[str] = []
    for _ in range(limit):
        got.append(sock.recv(4096).decode())
        if any(until in m for m in got):
            break
    return got


def test_notifier_without_socket_is_a_noop() -> None:
    n = Notifier(None)
    assert not n.enabled and n.ready() is False and n.watchdog() is False


def test_notifier_supports_abstract_socket_names() -> None:
    name = f"kotanet-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind("\0" + name)
        srv.settimeout(5)
        assert Notifier("@" + name).watchdog()
        assert srv.recv(100) == b"WATCHDOG=1"


@pytest.mark.broker
def test_agent_process_notifies_ready_watchdog_and_stopping(
        broker: LocalBroker, tmp_path: Path) -> None:
    cfg = tmp_path / "agent.toml"
    cfg.write_text(agent_toml(broker, "sd-node", tmp_path / "st"))
    sock_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(str(sock_path))
        srv.settimeout(20)
        env = {**os.environ, "NOTIFY_SOCKET": str(sock_path)}
        p = subprocess.Popen([sys.executable, "-m", "agent.cli", "--config", str(cfg)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            first = _recv_all(srv, "WATCHDOG=1")
            assert first[0].startswith("READY=1")
            assert first[-1] == "WATCHDOG=1"
            p.send_signal(signal.SIGTERM)
            assert "STOPPING=1" in _recv_all(srv, "STOPPING=1")
            assert p.wait(timeout=20) == 0
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
