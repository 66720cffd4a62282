"""End to end with the real agent (issue 6): inventory -> build -> generated mosquitto (TLS,
password file, ACL) -> the real kotanet-agent with its generated agent.toml -> `kotanet-provision
verify` passes; then `revoke` -> that node is cut off and cannot reconnect; `rotate` on another
node -> its agent reconnects with the new credentials and, after `rotate --confirm`, the old
ones stop working.

Everything runs inside a network namespace this test creates (uplink probes go to a peer
namespace, never outside); the broker listens on the namespace's loopback, so every MQTT client
(agents, verify, plain connect probes) runs in there too. Each agent sees its bundle at
/etc/kotanet and a private /var/lib/kotanet through overlay mounts in a private mount
namespace, so its agent.toml (and config hash) is byte-for-byte what `build` (or `rotate`)
produced. The agents run one after the other (they would share br0 and its shaping).
revoke/rotate reload mosquitto through a pid file, as on a real broker.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from netns.nsutil import Lab, Netns
from netns.nsutil import stop_proc as stop
from provhelp import cli_reload, make_deployment, node_password, prepare_node

from agent.config import load_config
from provisioning.deployment import Deployment

pytestmark = [pytest.mark.broker, pytest.mark.netns]

NODE = "bupati-01"  # verified, then revoked
OTHER = "trs-01"  # rotated: one uplink (eth0, present in the namespace), no failover
BIN = Path(sys.executable).parent
NOT_AUTHORIZED = 135
REFUSED = "Client <unknown> disconnected, not authorised."  # mosquitto's log of a bad password

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

# A plain MQTT 5 CONNECT (own client id, never an agent's); prints the CONNACK reason code,
# or "none" if the broker closed the connection without one. The password is read from a file.
CONNECT_RC = """
import os, ssl, sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
user, pw_file, ca, port = sys.argv[1:5]
done, codes = threading.Event(), []
c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                client_id="probe-" + os.urandom(4).hex())
c.username_pw_set(user, open(pw_file).read().strip())
c.tls_set(ca_certs=ca, tls_version=ssl.PROTOCOL_TLS_CLIENT)
c.on_connect = lambda _c, _u, _f, rc, _p: (codes.append(rc.value), done.set())
c.on_disconnect = lambda *_a: done.set()
c.connect("127.0.0.1", int(port))
c.loop_start()
done.wait(10)
c.disconnect()
c.loop_stop()
print(codes[0] if codes else "none")
"""


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab("ktv")
    yield lab
    lab.close()


def read(path: Path) -> str:
    """A log file's text so far ('' before it exists)."""
    return path.read_text(errors="replace") if path.is_file() else ""


def wait_until(cond: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll cond() until it is true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.05)


def wait_for_log(path: Path, needle: str, timeout: float = 15.0, count: int = 1) -> None:
    """Wait until needle occurs at least `count` times in the file."""
    wait_until(lambda: read(path).count(needle) >= count, f"{needle!r} in {path}", timeout)


def agent_command(dep: Deployment, root: Path, node: str = NODE, run: str = "") -> list[str]:
    """The command line of one agent run under `root`: /etc/kotanet is a fresh copy of the
    node's bundle as it is now; /var/lib/kotanet (root/lib-upper) persists across runs."""
    etc_upper, lib_upper = root / f"etc-upper{run}", root / "lib-upper"
    shutil.copytree(dep.root / "bundles/nodes" / node / "etc", etc_upper)
    (lib_upper / "kotanet").mkdir(parents=True, exist_ok=True)
    w_etc, w_lib = root / f"w-etc{run}", root / f"w-lib{run}"
    for w in (w_etc, w_lib):
        w.mkdir()
    script = (f"mount -t overlay overlay -o lowerdir=/etc,upperdir={etc_upper},"
              f"workdir={w_etc} /etc && "
              f"mount -t overlay overlay -o lowerdir=/var/lib,upperdir={lib_upper},"
              f"workdir={w_lib} /var/lib && "
              f"exec {BIN}/kotanet-agent --config /etc/kotanet/agent.toml")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def start_agent(ns: Netns, dep: Deployment, root: Path, log: Path, procs: list[subprocess.Popen[bytes]],
                node: str = NODE, run: str = "") -> subprocess.Popen[bytes]:
    """Start one agent run (stdout+stderr to log); it is added to procs for the final stop."""
    cmd = agent_command(dep, root, node, run)
    with log.open("wb") as out:
        proc = ns.popen(*cmd, stdout=out, stderr=subprocess.STDOUT)
    procs.append(proc)
    return proc


def connack(ns: Netns, dep: Deployment, user: str, password_file: Path) -> int | None:
    """CONNACK reason code of a plain connect (inside the namespace) as user/password."""
    out = ns.run(f"{BIN}/python", "-c", CONNECT_RC, user, str(password_file),
                 str(dep.pki / "ca.crt"), str(dep.settings.broker_port), timeout=30).stdout.strip()
    return None if out == "none" else int(out)


def start_verify(ns: Netns, dep: Deployment, node: str, broker_log: Path,
                 procs: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """`kotanet-provision verify node`, started before the agent so that it sees the birth."""
    connected = read(broker_log).count("u'verifier'")
    verify = ns.popen(f"{BIN}/kotanet-provision", "--lang", "en", "-d", str(dep.root), "verify",
                      node, "--mqtt-url", f"mqtts://127.0.0.1:{dep.settings.broker_port}",
                      "--timeout", "100", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    procs.append(verify)
    wait_for_log(broker_log, "u'verifier'", count=connected + 1)
    return verify


def config_hash(dep: Deployment, node: str) -> str:
    hash_: str = json.loads(dep.manifest_path.read_text())["nodes"][node]["config_hash"]
    return hash_


def test_real_agents_verify_revoke_and_rotate(lab: Lab, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path)
    node = prepare_node(lab)
    port = dep.settings.broker_port
    log = Path(str(dep.settings.broker_log))
    pid_file = tmp_path / "mosquitto.pid"
    a_log, b_root = tmp_path / "agent.log", tmp_path / OTHER
    b_log1, b_log2 = b_root / "agent-1.log", b_root / "agent-2.log"
    target_a = f"BrokerTarget(mqtts://{NODE}@127.0.0.1:{port})"
    target_b, target_b_new = (f"BrokerTarget(mqtts://{OTHER}@127.0.0.1:{port})",
                              f"BrokerTarget(mqtts://{OTHER}~g1@127.0.0.1:{port})")
    a_pw_file = dep.root / "bundles/nodes" / NODE / "etc/kotanet/mqtt-password"
    b_pw_file = dep.root / "bundles/nodes" / OTHER / "etc/kotanet/mqtt-password"
    b_old_pw_file = b_root / "etc-upper-1/kotanet/mqtt-password"  # agent B's first copy
    passwords = [node_password(dep, NODE), node_password(dep, OTHER)]  # never printed
    b_root.mkdir()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        broker = node.popen("mosquitto", "-c", str(dep.broker_dir / "mosquitto.conf"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(broker)
        wait_for_log(log, "mosquitto version 2.0.11 running")
        # `ip netns exec` execs mosquitto in place: this pid is the broker's, for SIGHUP reloads
        assert Path(f"/proc/{broker.pid}/comm").read_text().strip() == "mosquitto"
        pid_file.write_text(f"{broker.pid}\n")
        node.run(f"{BIN}/python", "-c", CENTRAL_ONLINE, str(dep.secrets / "central.password"),
                 str(dep.pki / "ca.crt"), str(port))

        # 1. the agent of NODE, started with its generated bundle, passes verify
        verify = start_verify(node, dep, NODE, log, procs)
        agent_a = start_agent(node, dep, tmp_path, a_log, procs)
        out = verify.communicate(timeout=130)[0].decode()
        expected = config_hash(dep, NODE)
        assert verify.returncode == 0, out + read(a_log)
        assert f"✓ config hash: expected {expected}, the node sent {expected}" in out
        assert "✓ every uplink probed: fiber, backup" in out
        assert f"PASS: node {NODE} is ready." in out
        assert f"connected to {target_a}" in read(a_log)

        # 2. revoke NODE: mosquitto reloads, drops the running agent and refuses it from now on
        a_mark, log_mark = len(read(a_log)), len(read(log))
        assert cli_reload(dep, pid_file, "revoke", NODE, "--yes") == 0
        assert json.loads(dep.manifest_path.read_text())["nodes"][NODE]["revoked"] is True
        refused = f"broker {target_a} refused session"
        wait_until(lambda: read(a_log)[a_mark:].count(refused) >= 2,
                   "two refused reconnects of the revoked agent", timeout=30)
        after = read(a_log)[a_mark:]
        assert f"disconnected from {target_a}" in after
        assert re.search(rf"{re.escape(refused)} \d+: Not authorized \(credentials refused: "
                         r"the node may be revoked", after)  # reason 135, with the hint
        assert f"connected to {target_a}" not in after  # never admitted again
        # mosquitto 2.0.11 re-checks connected clients on reload and drops the revoked one; a
        # refused CONNECT is logged before the client id is known
        wait_until(lambda: read(log)[log_mark:].count(REFUSED) >= 2, "refusals in the broker log")
        broker_after = read(log)[log_mark:]
        assert f"Client kotanet-{NODE} disconnected." in broker_after
        assert f"u'{NODE}'" not in broker_after  # no session accepted for the node
        assert connack(node, dep, NODE, a_pw_file) == NOT_AUTHORIZED
        assert agent_a.poll() is None  # the agent keeps running (and keeps being refused)
        stop(agent_a)

        # 3. OTHER's agent with its bundle; rotate: the running agent keeps its session
        agent_b = start_agent(node, dep, b_root, b_log1, procs, OTHER, "-1")
        wait_for_log(b_log1, f"connected to {target_b}")
        assert cli_reload(dep, pid_file, "rotate", OTHER) == 0
        passwords.append(node_password(dep, OTHER))
        assert passwords[2] != passwords[1]
        cfg = load_config(dep.root / "bundles/nodes" / OTHER / "etc/kotanet/agent.toml")
        assert cfg.mqtt.username == f"{OTHER}~g1"
        assert connack(node, dep, OTHER, b_old_pw_file) == 0  # old credentials still valid
        assert "disconnected from" not in read(b_log1)  # the reload did not drop the agent
        stop(agent_b)

        # the rotated bundle delivered: the agent connects as OTHER~g1 with the new password
        verify = start_verify(node, dep, OTHER, log, procs)
        agent_b = start_agent(node, dep, b_root, b_log2, procs, OTHER, "-2")
        wait_for_log(b_log2, f"connected to {target_b_new}")
        out_b = verify.communicate(timeout=130)[0].decode()
        assert verify.returncode == 0, out_b + read(b_log2)
        new_hash = config_hash(dep, OTHER)
        assert f"✓ config hash: expected {new_hash}, the node sent {new_hash}" in out_b
        assert f"PASS: node {OTHER} is ready." in out_b
        assert config_hash(dep, OTHER) == cfg.config_hash()

        # 4. rotate --confirm (the broker's log shows the alias login): the old password stops
        # working, the agent stays connected
        assert cli_reload(dep, pid_file, "rotate", OTHER, "--confirm") == 0
        assert connack(node, dep, OTHER, b_old_pw_file) == NOT_AUTHORIZED
        assert connack(node, dep, f"{OTHER}~g1", b_old_pw_file) == NOT_AUTHORIZED
        assert connack(node, dep, f"{OTHER}~g1", b_pw_file) == 0
        b2 = read(b_log2)
        assert agent_b.poll() is None
        assert b2.count(f"connected to {target_b_new}") == 1 and "disconnected from" not in b2
        assert "refused subscriptions" not in read(b_log1) + b2  # the alias has the node's ACL
    finally:
        for p in reversed(procs):
            stop(p)
    logs = out + out_b + read(a_log) + read(b_log1) + read(b_log2) + capsys.readouterr().out
    for password in passwords:
        assert password not in logs
