"""The first-boot exchange end to end: SD-card seed -> `kotanet-agent enroll` -> central's
POST /enroll/v1 (real aiohttp over TLS) -> broker files + SIGHUP -> the node logs in at the real
mosquitto with what it received. A token works once; the node's credentials survive replays."""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import stat
import tomllib
from pathlib import Path

import pytest
from enrollhelp import EnrollEnv, connack, post, publish_as, run_enroll, seed
from provhelp import node_password

from provisioning.cli import main as provision

pytestmark = pytest.mark.broker
ACCEPTED = (0, 16)  # PUBACK: success, or success with "no matching subscribers"


def manifest_entry(env: EnrollEnv, node: str) -> dict[str, object]:
    entry: dict[str, object] = json.loads(env.dep.manifest_path.read_text())["nodes"][node]
    return entry


def test_enrolled_node_logs_in_and_the_card_holds_no_secret_afterwards(
        env: EnrollEnv, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    card = seed(env, "tks-01", tmp_path)
    token = (card / "enroll.token").read_text().strip()
    build_password = node_password(env.dep, "tks-01")
    out = tmp_path / "etc-kotanet"
    before = env.broker.reloads()
    # no --central, no --ca: enroll.json and ca.crt next to the token on the card say where
    proc = run_enroll("--token-file", str(card / "enroll.token"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    env.broker.wait_reloaded(before)

    assert not (card / "enroll.token").exists()
    assert sorted(p.name for p in out.iterdir()) == ["agent.toml", "ca.crt", "mqtt-password"]
    for p in out.iterdir():  # root and the agent's group only, never the world
        assert stat.S_IMODE(p.stat().st_mode) == 0o640, p
    cfg = tomllib.loads((out / "agent.toml").read_text())
    assert cfg["node"]["id"] == "tks-01"
    password = (out / "mqtt-password").read_text().strip()
    assert f"config hash {manifest_entry(env, 'tks-01')['config_hash']}" in proc.stdout
    topic = f"kotanet/v1/node/{cfg['node']['site']}/tks-01/state"
    assert publish_as(env, "tks-01", password, topic) in ACCEPTED
    # the password that sat in the bundle before enrolment is no longer accepted
    assert password != build_password
    assert connack(env, "tks-01", build_password) != 0
    # a rebuild keeps the enrolled password (no lock-out)
    assert provision(["--lang", "en", "-d", str(env.dep.root), "build",
                      str(Path(__file__).resolve().parents[2] / "examples/inventory/sampit.yaml")
                      ]) == 0
    assert node_password(env.dep, "tks-01") == password

    seen = proc.stdout + proc.stderr + caplog.text
    assert token not in seen and token.split(".")[2] not in seen
    assert password not in seen


def test_replayed_token_fails_already_used_and_first_credentials_still_work(
        env: EnrollEnv, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    card = seed(env, "tks-02", tmp_path)
    stolen = tmp_path / "stolen.token"
    shutil.copy(card / "enroll.token", stolen)
    common = ("--central", env.url, "--ca", str(env.dep.pki / "ca.crt"))
    node_out, thief_out = tmp_path / "node", tmp_path / "thief"
    before = env.broker.reloads()
    first = run_enroll("--token-file", str(card / "enroll.token"), "--out", str(node_out), *common)
    assert first.returncode == 0, first.stderr
    env.broker.wait_reloaded(before)
    password = (node_out / "mqtt-password").read_text().strip()
    entry = manifest_entry(env, "tks-02")

    again = run_enroll("--token-file", str(stolen), "--out", str(thief_out), *common)
    assert again.returncode == 3
    assert "[already_used]" in again.stderr and "already used" in again.stderr
    assert not (thief_out / "agent.toml").exists() and not (thief_out / "mqtt-password").exists()
    assert stolen.exists()  # a refused token is kept for the technician to inspect
    assert manifest_entry(env, "tks-02") == entry
    assert connack(env, "tks-02", password) == 0

    token = stolen.read_text().strip()
    seen = first.stdout + first.stderr + again.stdout + again.stderr + caplog.text
    assert token not in seen and password not in seen


def test_a_node_whose_answer_was_lost_may_retry_but_nobody_else(env: EnrollEnv,
                                                                tmp_path: Path) -> None:
    card = seed(env, "trs-01", tmp_path)
    token = (card / "enroll.token").read_text().strip()
    mine = secrets.token_urlsafe(32)
    status, first = post(env, {"token": token, "secret": mine})
    assert status == 200, first
    status, retry = post(env, {"token": token, "secret": mine})
    assert status == 200 and retry["files"] == first["files"]
    assert mine not in json.dumps(first)
    status, other = post(env, {"token": token, "secret": secrets.token_urlsafe(32)})
    assert (status, other["error"]) == (409, "already_used")
    assert "sudah pernah dipakai" in other["message_id"]
    assert connack(env, first["username"], mine) == 0
