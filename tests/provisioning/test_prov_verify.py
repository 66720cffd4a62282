"""verify: inventory -> build -> generated mosquitto -> a node speaking protocol v1 -> checklist.

The node side here is a plain MQTT 5 client using the node's generated credentials and
publishing what an agent publishes (retained state, birth with the config hash, telemetry).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from provhelp import GeneratedBroker, Probe, make_deployment, node_password

from protocol.codec import encode
from protocol.messages import Birth, ClockInfo, NodeState, Sample, Tele, UplinkSample, Users
from provisioning.cli import main
from provisioning.deployment import Deployment

pytestmark = pytest.mark.broker

SITE, NODE = "kantor-bupati", "bupati-01"
T = f"kotanet/v1/node/{SITE}/{NODE}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, GeneratedBroker]]:
    dep = make_deployment(tmp_path_factory.mktemp("verify"))
    with GeneratedBroker(dep) as broker:
        yield dep, broker


def fake_node(dep: Deployment, config_hash: str, stop: threading.Event,
              uplinks: tuple[str, ...] = ("fiber", "backup")) -> None:
    """Publish like an agent until stopped (bounded): retained state, then birth + tele."""
    node = Probe(dep, NODE, node_password(dep, NODE))
    assert node.connect() == 0
    now = int(time.time() * 1000)
    assert node.publish(f"{T}/state", encode(NodeState(site=SITE, node=NODE, ts_ms=now, online=True,
                                                       session=1)), retain=True) in (0, 16)
    birth = Birth(site=SITE, node=NODE, ts_ms=now, session=1, boot_id="b", agent_version="0.1",
                  config_hash=config_hash, role="office", clock=ClockInfo(synced=True, wall_ms=now))
    seq = 0
    deadline = time.monotonic() + 30
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            node.publish(f"{T}/birth", encode(birth))
            sample = Sample(ts_ms=now, users=Users(associated=3, leases=4), uplinks=[
                UplinkSample(name=u, up=(u == "fiber"), rtt_ms=12.0) for u in uplinks])
            node.publish(f"{T}/tele", encode(Tele(site=SITE, node=NODE, ts_ms=now, session=1,
                                                  seq=seq, samples=[sample])))
            seq += 1
            stop.wait(0.2)
    finally:
        node.close()


def run_verify(dep: Deployment, broker: GeneratedBroker, config_hash: str, lang: str,
               timeout: float, capsys: pytest.CaptureFixture[str],
               uplinks: tuple[str, ...] = ("fiber", "backup")) -> tuple[int, str]:
    stop = threading.Event()
    t = threading.Thread(target=fake_node, args=(dep, config_hash, stop, uplinks))
    t.start()
    try:
        rc = main(["--lang", lang, "-d", str(dep.root), "verify", NODE, "--mqtt-url",
                   f"mqtts://127.0.0.1:{broker.port}", "--timeout", str(timeout)])
    finally:
        stop.set()
        t.join(timeout=10)
    return rc, capsys.readouterr().out


def expected_hash(dep: Deployment) -> str:
    return str(json.loads(dep.manifest_path.read_text())["nodes"][NODE]["config_hash"])


def test_verify_passes_for_a_correct_node(env: tuple[Deployment, GeneratedBroker],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    dep, broker = env
    rc, out = run_verify(dep, broker, expected_hash(dep), "en", 20, capsys)
    assert rc == 0, out
    assert f"✓ config hash matches {expected_hash(dep)}" in out
    assert "✓ node online (retained state)" in out
    assert "✓ every uplink probed: fiber, backup" in out
    assert "✓ a user-count source found" in out
    assert "✓ clock synchronised (NTP)" in out
    assert out.rstrip().endswith(f"PASS: node {NODE} is ready.")
    assert dep.service_password("verifier") not in out


def test_verify_fails_on_wrong_config_hash_in_indonesian(
        env: tuple[Deployment, GeneratedBroker], capsys: pytest.CaptureFixture[str]) -> None:
    dep, broker = env
    rc, out = run_verify(dep, broker, "0000000000000000", "id", 3, capsys)
    assert rc == 1
    assert f"✗ hash konfigurasi cocok {expected_hash(dep)}" in out
    assert "✓ node online (status tersimpan)" in out
    assert f"GAGAL: node {NODE} belum siap" in out


def test_verify_fails_when_an_uplink_is_not_probed(
        env: tuple[Deployment, GeneratedBroker], capsys: pytest.CaptureFixture[str]) -> None:
    dep, broker = env
    rc, out = run_verify(dep, broker, expected_hash(dep), "en", 3, capsys, uplinks=("fiber",))
    assert rc == 1
    assert "✗ every uplink probed: fiber, backup" in out


def test_verify_reports_refused_credentials(env: tuple[Deployment, GeneratedBroker],
                                            tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    dep, broker = env
    wrong = tmp_path / "pw"
    wrong.write_text("wrong-password\n")
    rc = main(["--lang", "en", "-d", str(dep.root), "verify", NODE, "--mqtt-url",
               f"mqtts://127.0.0.1:{broker.port}", "--timeout", "3", "--password-file", str(wrong)])
    assert rc == 2
    assert "Cannot connect to" in capsys.readouterr().out
