"""End to end with the real agent: inventory -> build -> generated mosquitto (TLS) -> the real
kotanet-agent with its generated agent.toml -> `kotanet-provision verify` passes.

Everything runs inside a network namespace this test creates (uplink probes go to a peer
namespace, never outside). The agent sees its bundle at /etc/kotanet and a private
/var/lib/kotanet through overlay mounts in a private mount namespace, so its agent.toml (and
config hash) is byte-for-byte what `build` produced.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns.nsutil import Lab, Netns
from provhelp import make_deployment

from provisioning.deployment import Deployment

pytestmark = [pytest.mark.broker, pytest.mark.netns]

NODE = "bupati-01"
BIN = Path(sys.executable).parent

CENTRAL_ONLINE = """
import json, ssl, sys, time
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
c.username_pw_set("central", open(sys.argv[1]).read().strip())
c.tls_set(ca_certs=sys.argv[2], tls_version=ssl.PROTOCOL_TLS_CLIENT)
c.connect("127.0.0.1", int(sys.argv[3]))
c.loop_start()
body = {"schema": "kotanet.central_state/1", "instance": "c1", "online": True, "epoch": 1,
        "ts_ms": int(time.time() * 1000)}
c.publish("kotanet/v1/central/c1/state", json.dumps(body), qos=1, retain=True).wait_for_publish(10)
c.disconnect()
c.loop_stop()
"""


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab("ktv")
    yield lab
    lab.close()


def wait_for_log(path: Path, needle: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not (path.is_file() and needle in path.read_text()):
        assert time.monotonic() < deadline, f"{needle!r} not in {path}"
        time.sleep(0.05)


def agent_command(dep: Deployment, root: Path) -> list[str]:
    etc_upper, lib_upper = root / "etc-upper", root / "lib-upper"
    shutil.copytree(dep.root / "bundles/nodes" / NODE / "etc", etc_upper)
    (lib_upper / "kotanet").mkdir(parents=True)
    for w in ("w-etc", "w-lib"):
        (root / w).mkdir()
    script = (f"mount -t overlay overlay -o lowerdir=/etc,upperdir={etc_upper},"
              f"workdir={root}/w-etc /etc && "
              f"mount -t overlay overlay -o lowerdir=/var/lib,upperdir={lib_upper},"
              f"workdir={root}/w-lib /var/lib && "
              f"exec {BIN}/kotanet-agent --config /etc/kotanet/agent.toml")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def prepare_node(lab: Lab) -> Netns:
    node, isp = lab.add("node"), lab.add("isp")
    lab.link(node, "eth0", "10.1.0.2/24", isp, "up0", "10.1.0.1/24")
    lab.link(node, "eth1", "10.2.0.2/24", isp, "up1", "10.2.0.1/24")
    node.run("ip", "link", "add", "br0", "type", "bridge")
    node.run("ip", "addr", "add", "10.30.1.1/24", "dev", "br0")
    node.run("ip", "link", "set", "br0", "up")
    node.run("ip", "route", "add", "default", "via", "10.1.0.1")
    return node


def test_real_agent_with_generated_bundle_passes_verify(lab: Lab, tmp_path: Path) -> None:
    dep = make_deployment(tmp_path)
    node = prepare_node(lab)
    port = dep.settings.broker_port
    log = Path(str(dep.settings.broker_log))
    procs: list[subprocess.Popen[bytes]] = []
    agent_log = (tmp_path / "agent.log").open("wb")
    try:
        procs.append(node.popen("mosquitto", "-c", str(dep.broker_dir / "mosquitto.conf"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for_log(log, "mosquitto version 2.0.11 running")
        node.run(f"{BIN}/python", "-c", CENTRAL_ONLINE, str(dep.secrets / "central.password"),
                 str(dep.pki / "ca.crt"), str(port))
        verify = node.popen(f"{BIN}/kotanet-provision", "--lang", "en", "-d", str(dep.root),
                            "verify", NODE, "--mqtt-url", f"mqtts://127.0.0.1:{port}",
                            "--timeout", "100", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(verify)
        wait_for_log(log, "u'verifier'")
        procs.append(node.popen(*agent_command(dep, tmp_path), stdout=agent_log,
                                stderr=subprocess.STDOUT))
        out = verify.communicate(timeout=130)[0].decode()
    finally:
        for p in reversed(procs):
            stop(p)
        agent_log.close()
    expected = json.loads(dep.manifest_path.read_text())["nodes"][NODE]["config_hash"]
    agent_out = (tmp_path / "agent.log").read_text()
    assert verify.returncode == 0, out + agent_out
    assert f"✓ config hash matches {expected}" in out
    assert "✓ every uplink probed: fiber, backup" in out
    assert f"PASS: node {NODE} is ready." in out
    assert f"connected to BrokerTarget(mqtts://{NODE}@127.0.0.1:{port})" in agent_out
    assert (dep.root / "bundles/nodes" / NODE / "etc/kotanet/mqtt-password").read_text().strip() \
        not in agent_out + out
