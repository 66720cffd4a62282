"""kotanet-sim's generated files fit the other side: central reads the registry, mosquitto the passwords."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from agent.sim.diurnal import office_level, park_level
from central.config import load_registry
from provisioning.localbroker import LocalBroker

SIM = str(Path(sys.executable).parent / "kotanet-sim")


def test_registry_for_50_nodes_is_accepted_by_central(tmp_path: Path) -> None:
    reg = tmp_path / "registry.json"
    subprocess.run([SIM, "--nodes", "50", "--write-registry", str(reg)], check=True, timeout=30)
    nodes = load_registry(reg)
    assert len(nodes) == len({n.node for n in nodes}) == 50
    per_site: dict[str, int] = {}
    for n in nodes:
        per_site[n.site] = per_site.get(n.site, 0) + 1
    assert len(per_site) == 20 and set(per_site.values()) == {2, 3}  # more nodes per site
    assert {n.role for n in nodes if n.site == "taman-kota-sampit"} == {"park"}
    assert {n.role for n in nodes if n.site == "rsud-murjani"} == {"office"}


@pytest.mark.broker
def test_generated_passwords_log_each_node_in(tmp_path: Path) -> None:
    creds = tmp_path / "nodes.json"
    subprocess.run([SIM, "--nodes", "3", "--write-credentials", str(creds)], check=True, timeout=30)
    assert creds.stat().st_mode & 0o077 == 0
    pw = json.loads(creds.read_text())
    with LocalBroker(tmp_path / "broker", superusers=()) as b:
        for node, secret in pw.items():
            b.add_user(node, secret)
        for node, secret in pw.items():
            got: list[int] = []
            c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            c.username_pw_set(node, secret)
            c.on_connect = lambda _c, _u, _f, rc, _p, got=got: got.append(rc.value)
            c.connect(b.host, b.port)
            for _ in range(50):
                c.loop(timeout=0.1)
                if got:
                    break
            c.disconnect()
            assert got == [0], f"{node} refused: {got}"


def test_diurnal_shapes_parks_evenings_offices_working_hours() -> None:
    tue, sun = 1, 6
    assert park_level(20.0, tue) > 3 * park_level(10.0, tue)       # evening crowd
    assert park_level(16.5, sun) > park_level(16.5, tue)           # weekend afternoons
    assert office_level(10.0, tue) > 0.9 > 0.1 > office_level(10.0, sun)
    assert office_level(21.0, tue) < 0.1                            # after hours
    assert office_level(3.0, sun, "24h") > 0.4                      # RSUD never empties
