"""rotate and revoke against a real mosquitto reloaded through its pid file; rotate --confirm
only with proof that the node logged in with its new username."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from provhelp import SAMPLE, GeneratedBroker, Probe, make_deployment, node_password

from agent.config import load_config
from protocol.codec import encode
from protocol.messages import Birth, ClockInfo, NodeState
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
    # the alias logged in above (Probe): mosquitto's log is the proof rotate --confirm reads
    assert cli(dep, broker, "rotate", "tks-01", "--confirm") == 0
    assert "Rotation of tks-01 confirmed" in (out := capsys.readouterr().out)
    assert "The broker has seen the node log in as tks-01~g1 at " in out
    assert f"(broker log {dep.settings.broker_log})" in out
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
        assert cli(dep, broker, "revoke", "tks-02", "--yes") == 0
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


def snapshot(dep: Deployment) -> dict[str, bytes]:
    """The files a refused command must leave alone."""
    return {name: path.read_bytes() for name, path in (
        ("manifest", dep.manifest_path), ("passwd", dep.broker_dir / "passwd"),
        ("acl", dep.broker_dir / "acl"))}


def test_confirm_at_once_is_refused_and_changes_nothing(
        env: tuple[Deployment, GeneratedBroker], capsys: pytest.CaptureFixture[str]) -> None:
    """The trap: `rotate tks-02` then at once `rotate tks-02 --confirm` (node still on the old
    bundle). Refused, named cause and the command that works; both logins stay valid."""
    dep, broker = env
    old_pw = node_password(dep, "tks-02")
    assert cli(dep, broker, "rotate", "tks-02") == 0
    new_pw = node_password(dep, "tks-02")
    before = snapshot(dep)
    capsys.readouterr()
    assert main(["--lang", "id", "-d", str(dep.root), "rotate", "tks-02", "--confirm",
                 "--pid-file", str(broker.pid_file)]) == 1
    out = capsys.readouterr().out
    assert "Rotasi tks-02 TIDAK dikonfirmasi: belum ada bukti node masuk sebagai tks-02~g1" in out
    assert f"log broker {dep.settings.broker_log} tidak mencatat login itu" in out
    assert "'kotanet-provision verify tks-02'" in out and "Tidak ada yang diubah." in out
    assert snapshot(dep) == before
    assert try_connect(dep, "tks-02", old_pw) == 0  # the node on its old bundle still gets in
    assert try_connect(dep, "tks-02~g1", new_pw) == 0
    # once the node has logged in as the alias (above), the same command is accepted
    assert cli(dep, broker, "rotate", "tks-02", "--confirm") == 0
    out = capsys.readouterr().out
    assert "The broker has seen the node log in as tks-02~g1" in out and "WARNING" not in out
    assert try_connect(dep, "tks-02", old_pw) == NOT_AUTHORIZED


def test_force_confirms_without_proof_and_warns(
        env: tuple[Deployment, GeneratedBroker], capsys: pytest.CaptureFixture[str]) -> None:
    dep, broker = env
    assert cli(dep, broker, "rotate", "trs-01") == 0
    capsys.readouterr()
    assert cli(dep, broker, "rotate", "trs-01", "--confirm", "--force") == 0
    out = capsys.readouterr().out
    assert "WARNING: --force: rotation of trs-01 confirmed WITHOUT proof of a login as trs-01~g1" in out
    assert "Rotation of trs-01 confirmed: only user trs-01~g1 is valid now." in out


def test_verify_seeing_the_new_hash_is_proof_when_the_log_is_elsewhere(
        env: tuple[Deployment, GeneratedBroker], capsys: pytest.CaptureFixture[str]) -> None:
    """A NOC whose broker runs on another host cannot read its log: the birth with the rotated
    config hash that verify saw (it names the alias in agent.toml) is the proof instead."""
    dep, broker = env
    node, site = "kominfo-01", manifest(dep)["kominfo-01"]["site"]
    old_hash = manifest(dep)[node]["config_hash"]
    assert cli(dep, broker, "rotate", node) == 0
    settings = json.loads((dep.root / "deployment.json").read_text())
    (dep.root / "deployment.json").write_text(json.dumps(
        {**settings, "broker_log": str(dep.root / "elsewhere" / "mosquitto.log")}))
    dep = Deployment(dep.root)  # settings re-read
    capsys.readouterr()
    assert main(["--lang", "en", "-d", str(dep.root), "rotate", node, "--confirm"]) == 1
    assert "is not readable from here" in capsys.readouterr().out
    alias = Probe(dep, f"{node}~g1", node_password(dep, node))
    try:
        assert alias.connect() == 0
        # the node still sends its old hash: verify says so, and it is no proof
        rc, out = verify_with_birth(dep, alias, node, str(site), str(old_hash))
        assert rc == 1 and "still runs the bundle from before the rotation" in out
        assert main(["--lang", "en", "-d", str(dep.root), "rotate", node, "--confirm"]) == 1
        rc, out = verify_with_birth(dep, alias, node, str(site),
                                    str(manifest(dep)[node]["config_hash"]))
        assert f"uses its new user {node}~g1" in out
    finally:
        alias.close()
    capsys.readouterr()
    assert main(["--lang", "en", "-d", str(dep.root), "rotate", node, "--confirm",
                 "--pid-file", str(broker.pid_file)]) == 0
    assert "(birth with the new hash seen by verify" in capsys.readouterr().out


def verify_with_birth(dep: Deployment, alias: Probe, node: str, site: str,
                      config_hash: str) -> tuple[int, str]:
    """Run verify (3 s) while `alias` publishes state and a birth with config_hash."""
    topic = f"kotanet/v1/node/{site}/{node}"
    now = int(time.time() * 1000)
    alias.publish(f"{topic}/state", encode(NodeState(site=site, node=node, ts_ms=now,
                                                     online=True, session=2)), retain=True)
    birth = encode(Birth(site=site, node=node, ts_ms=now, session=2, boot_id="b",
                         agent_version="0.1", config_hash=config_hash, role="office",
                         clock=ClockInfo(synced=True, wall_ms=now)))
    stop = threading.Event()

    def births() -> None:
        for _ in range(30):  # bounded: 6 s at most
            if stop.wait(0.2):
                return
            alias.publish(f"{topic}/birth", birth)

    t = threading.Thread(target=births)
    t.start()
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            rc = main(["--lang", "en", "-d", str(dep.root), "verify", node, "--timeout", "3"])
    finally:
        stop.set()
        t.join(timeout=10)
    return rc, out.getvalue()
