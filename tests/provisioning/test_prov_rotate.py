"""rotate and revoke against a real mosquitto reloaded through its pid file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from provhelp import SAMPLE, GeneratedBroker, Probe, make_deployment, node_password

from agent.config import load_config
from provisioning.cli import main
from provisioning.deployment import Deployment

pytestmark = pytest.mark.broker

P = "kotanet/v1/node/taman-kota-sampit"
NOT_AUTHORIZED = 135


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Deployment, GeneratedBroker]]:
    dep = make_deployment(tmp_path)
    with GeneratedBroker(dep) as broker:
        yield dep, broker


def try_connect(dep: Deployment, user: str, password: str) -> int:
    p = Probe(dep, user, password)
    try:
        return p.connect()
    finally:
        p.close()


def cli(dep: Deployment, broker: GeneratedBroker, *args: str) -> int:
    """Run a command that reloads the broker and wait until mosquitto has reloaded."""
    before = broker.reloads()
    rc = main(["--lang", "en", "-d", str(dep.root), *args, "--pid-file", str(broker.pid_file)])
    broker.wait_reloaded(before)
    return rc


def manifest(dep: Deployment) -> dict[str, dict[str, object]]:
    nodes: dict[str, dict[str, object]] = json.loads(dep.manifest_path.read_text())["nodes"]
    return nodes


def test_rotation_never_locks_out_and_confirm_drops_old(
        env: tuple[Deployment, GeneratedBroker], capsys: pytest.CaptureFixture[str]) -> None:
    dep, broker = env
    old_pw = node_password(dep, "tks-01")
    old_hash = manifest(dep)["tks-01"]["config_hash"]
    assert cli(dep, broker, "rotate", "tks-01") == 0
    out = capsys.readouterr().out
    new_pw = node_password(dep, "tks-01")
    assert new_pw != old_pw and new_pw not in out and old_pw not in out
    assert f"Broker reloaded (SIGHUP to pid {broker.pid_file.read_text().strip()})" in out
    # both the old and the new credentials work until confirmation
    assert try_connect(dep, "tks-01", old_pw) == 0
    assert try_connect(dep, "tks-01~g1", new_pw) == 0
    assert try_connect(dep, "tks-01~g1", old_pw) == NOT_AUTHORIZED
    # the bundle now names the alias; its hash is what verify will expect
    cfg = load_config(dep.root / "bundles/nodes/tks-01/etc/kotanet/agent.toml")
    assert cfg.mqtt.username == "tks-01~g1"
    assert manifest(dep)["tks-01"]["config_hash"] == cfg.config_hash() != old_hash
    # the alias has exactly the node's rights
    alias = Probe(dep, "tks-01~g1", new_pw)
    try:
        assert alias.connect() == 0
        assert alias.publish(f"{P}/tks-01/birth") in (0, 16)
        assert alias.publish(f"{P}/tks-02/birth") == NOT_AUTHORIZED
        assert alias.publish(f"{P}/tks-01/cmd") == NOT_AUTHORIZED
    finally:
        alias.close()
    assert cli(dep, broker, "rotate", "tks-01", "--confirm") == 0
    assert "Rotation of tks-01 confirmed" in (out := capsys.readouterr().out)
    assert "Broker reloaded (SIGHUP to pid" in out
    assert try_connect(dep, "tks-01", old_pw) == NOT_AUTHORIZED
    assert try_connect(dep, "tks-01~g1", new_pw) == 0
    # a rebuild keeps the rotated credentials (no lock-out)
    assert cli(dep, broker, "build", str(SAMPLE)) == 0
    assert node_password(dep, "tks-01") == new_pw
    assert try_connect(dep, "tks-01~g1", new_pw) == 0
    # a second rotation moves on to ~g2
    assert cli(dep, broker, "rotate", "tks-01") == 0
    assert try_connect(dep, "tks-01~g1", new_pw) == 0
    assert try_connect(dep, "tks-01~g2", node_password(dep, "tks-01")) == 0


def test_revoke_cuts_access_at_once_and_survives_rebuild(
        env: tuple[Deployment, GeneratedBroker]) -> None:
    dep, broker = env
    pw = node_password(dep, "tks-02")
    connected = Probe(dep, "tks-02", pw)
    try:
        assert connected.connect() == 0
        assert cli(dep, broker, "revoke", "tks-02") == 0
        assert manifest(dep)["tks-02"]["revoked"] is True
        assert try_connect(dep, "tks-02", pw) == NOT_AUTHORIZED
        # mosquitto 2.0.11 re-checks connected clients on reload: the open session is closed
        assert connected.wait_for(lambda: connected.disconnected.is_set())
    finally:
        connected.close()
    assert try_connect(dep, "tks-01", node_password(dep, "tks-01")) == 0  # others unaffected
    assert cli(dep, broker, "build", str(SAMPLE)) == 0
    assert try_connect(dep, "tks-02", pw) == NOT_AUTHORIZED
    assert cli(dep, broker, "build", str(SAMPLE), "--readmit", "tks-02") == 0
    new_pw = node_password(dep, "tks-02")
    assert new_pw != pw
    assert try_connect(dep, "tks-02", new_pw) == 0
    assert try_connect(dep, "tks-02", pw) == NOT_AUTHORIZED
