"""kotanet-central as a real process: --help, bad config, API auth, node traffic, SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from central_helpers import NodeSim, wait_for

from protocol.topics import DEFAULT_PREFIX
from provisioning.localbroker import LocalBroker, free_port

CLI = [sys.executable, "-m", "central.cli"]
TOKEN = "t0ken-for-tests"


def _get(url: str, token: str | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token
                                 else {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            body = resp.read().decode()
            status = resp.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read().decode(), exc.code
    except OSError:
        return 0, None
    return status, json.loads(body) if body.startswith("{") else body


def test_help_teaches() -> None:
    out = subprocess.run([*CLI, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    for needle in ("--config", "KOTANET_MQTT_URL", "KOTANET_ADMIN_TOKEN", "strict_registry",
                   "--add-token"):
        assert needle in out.stdout


def test_bad_config_prints_one_line_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "central.toml"
    cfg.write_text('strict_registry = true\n[storage]\nurl = "sqlite:///x.db"\nbatchmax = 5\n')
    out = subprocess.run([*CLI, "--config", str(cfg)], capture_output=True, text=True,
                         timeout=30, env={**os.environ, "KOTANET_MQTT_URL": ""})
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "storage.batchmax" in lines[0], out.stderr


@pytest.fixture
def central_proc(broker: LocalBroker, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes],
                                                                        str]]:
    """kotanet-central on the test broker as user 'central' (default prefix)."""
    port = free_port()
    cfg = tmp_path / "central.toml"
    cfg.write_text('instance = "cli-central"\ngap_grace_s = 60\n'
                   '[[nodes]]\nnode = "cli-node-1"\nsite = "taman-kota"\nrole = "park"\n')
    env = {**os.environ, "KOTANET_MQTT_URL": broker.url("central"),
           "KOTANET_DB": f"sqlite:///{tmp_path}/central.db",
           "KOTANET_HTTP": f"127.0.0.1:{port}", "KOTANET_ADMIN_TOKEN": TOKEN}
    proc = subprocess.Popen([*CLI, "--config", str(cfg)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.broker
def test_central_process_serves_api_and_stops_cleanly(
        broker: LocalBroker, central_proc: tuple[subprocess.Popen[bytes], str]) -> None:
    proc, base = central_proc
    broker.add_user("cli-node-1", "cli-node-pw")
    node = NodeSim(broker, DEFAULT_PREFIX, user="cli-node-1")
    try:
        node.watch(node.topics.central_state("cli-central"))
        wait_for(lambda: node.central_online("cli-central"), 20, "central online")
        assert _get(f"{base}/healthz")[0] == 200
        assert _get(f"{base}/api/v1/nodes")[0] == 401
        assert _get(f"{base}/api/v1/nodes", "not-the-token")[0] == 401
        node.birth("taman-kota", "cli-node-1", session=1)
        node.tele("taman-kota", "cli-node-1", [1, 2, 3], session=1)
        wait_for(lambda: node.acked("cli-node-1") == {1, 2, 3}, 10, "receipt to the node")
        status, body = _get(f"{base}/api/v1/nodes", TOKEN)
        assert status == 200
        (row,) = [n for n in body["nodes"] if n["node"] == "cli-node-1"]  # others: retained
        assert row["node"] == "cli-node-1" and row["online"] and not row["unregistered"]
        assert row["users"] == 3
        status, text = _get(f"{base}/metrics")
        assert status == 200 and 'kotanet_central_messages_total{kind="tele"} 1' in text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        wait_for(lambda: node.central_online("cli-central") is False, 10, "offline state")
        log = proc.stderr.read().decode() if proc.stderr else ""
        assert TOKEN not in log and broker.passwords["central"] not in log
    finally:
        node.close()
        admin = NodeSim(broker, DEFAULT_PREFIX)  # clear the retained state for other tests
        admin.publish_raw(admin.topics.central_state("cli-central"), b"", retain=True)
        admin.close()


def test_check_and_add_token(tmp_path: Path) -> None:
    from central.api.auth import TokenAuth
    from central.storage import open_storage

    cfg = tmp_path / "central.toml"
    cfg.write_text('instance = "c1"\n[[nodes]]\nnode = "a"\nsite = "s"\n')
    env = {**os.environ, "KOTANET_DB": f"sqlite:///{tmp_path}/c.db"}
    out = subprocess.run([*CLI, "--config", str(cfg), "--check"], capture_output=True,
                         text=True, timeout=30, env=env)
    assert out.returncode == 0 and "1 registered nodes" in out.stdout
    out = subprocess.run([*CLI, "--config", str(cfg), "--add-token", "noc-wall", "--role",
                          "operator"], capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0
    token = out.stdout.strip()
    storage = open_storage(f"sqlite:///{tmp_path}/c.db")
    try:
        who = TokenAuth(storage, None).resolve(f"Bearer {token}")
        assert who is not None and (who.name, who.role) == ("noc-wall", "operator")
        assert TokenAuth(storage, None).resolve(f"Bearer {token}x") is None
    finally:
        storage.close()
