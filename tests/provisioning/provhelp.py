"""Helpers for provisioning tests: a deployment built from the sample inventory, a mosquitto
started with the generated files, and small MQTT 5 probes returning reason codes."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from netns.nsutil import Lab, Netns
from paho.mqtt.enums import CallbackAPIVersion

from provisioning.cli import main as cli_main
from provisioning.deployment import Deployment
from provisioning.localbroker import find_mosquitto, free_port

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "inventory" / "sampit.yaml"


def make_deployment(root: Path, *, build: bool = True, inventory: Path = SAMPLE,
                    extra: tuple[str, ...] = ()) -> Deployment:
    """init (broker on a free loopback port, files used in place) and optionally build."""
    port = free_port()
    dep_dir = root / "dep"
    rc = cli_main(["--lang", "en", "init", str(dep_dir), "--broker-host", "127.0.0.1",
                   "--broker-port", str(port), "--broker-bind", "127.0.0.1",
                   "--broker-etc", str(dep_dir / "broker"), "--broker-data", "",
                   "--broker-log", str(root / "mosquitto.log"), "--broker-user", "root", *extra])
    assert rc == 0
    if build:
        assert cli_main(["--lang", "en", "-d", str(dep_dir), "build", str(inventory)]) == 0
    return Deployment(dep_dir)


def broker_reloads(dep: Deployment) -> int:
    """How many times the deployment's mosquitto has logged 'Reloading config.'."""
    log = dep.settings.broker_log
    if not log or not Path(log).is_file():
        return 0
    return Path(log).read_text(errors="replace").count("Reloading config.")


def wait_reloaded(dep: Deployment, before: int, timeout: float = 10.0) -> None:
    """Wait (bounded) until mosquitto has reloaded since `before` was read."""
    deadline = time.monotonic() + timeout
    while broker_reloads(dep) <= before:
        assert time.monotonic() < deadline, "mosquitto did not reload"
        time.sleep(0.02)


def cli_reload(dep: Deployment, pid_file: Path, *args: str) -> int:
    """Run a kotanet-provision command that reloads mosquitto (SIGHUP to the pid in pid_file)
    and wait (bounded) until mosquitto has logged the reload."""
    before = broker_reloads(dep)
    rc = cli_main(["--lang", "en", "-d", str(dep.root), *args, "--pid-file", str(pid_file)])
    wait_reloaded(dep, before)
    return rc


class GeneratedBroker:
    """mosquitto -c DIR/broker/mosquitto.conf, with a pid file for revoke/rotate reloads."""

    def __init__(self, dep: Deployment) -> None:
        self.dep = dep
        self.port = dep.settings.broker_port
        self.pid_file = dep.root / "mosquitto.pid"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> GeneratedBroker:
        conf = self.dep.broker_dir / "mosquitto.conf"
        self.proc = subprocess.Popen([find_mosquitto(), "-c", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pid_file.write_text(f"{self.proc.pid}\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited {self.proc.returncode}: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("generated mosquitto did not start")

    def reloads(self) -> int:
        """How many times mosquitto has logged 'Reloading config.'."""
        return broker_reloads(self.dep)

    def wait_reloaded(self, before: int, timeout: float = 10.0) -> None:
        """Wait (bounded) until mosquitto has reloaded since `before` was read."""
        wait_reloaded(self.dep, before, timeout)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=5)
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None


def node_password(dep: Deployment, node: str) -> str:
    """The password in a node's bundle (what the node will hold after enrolment)."""
    return (dep.root / "bundles/nodes" / node / "etc/kotanet/mqtt-password").read_text().strip()


class Probe:
    """One MQTT 5 client over TLS with the project CA; collects reason codes and messages."""

    def __init__(self, dep: Deployment, user: str, password: str | None,
                 ca: str | None = None, cert: Path | None = None) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=f"probe-{user}-{os.urandom(3).hex()}")
        self.client.username_pw_set(user, password)
        self.client.tls_set(ca_certs=ca or str(dep.pki / "ca.crt"),
                            certfile=str(cert.with_suffix(".crt")) if cert else None,
                            keyfile=str(cert.with_suffix(".key")) if cert else None,
                            tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.port = dep.settings.broker_port
        self.connack: int | None = None
        self.pubacks: dict[int, int] = {}
        self.subacks: dict[int, list[int]] = {}
        self.messages: list[mqtt.MQTTMessage] = []
        self.disconnected = threading.Event()
        self.event = threading.Event()
        c = self.client
        c.on_connect = lambda _c, _u, _f, rc, _p: self._set("connack", rc.value)
        c.on_publish = lambda _c, _u, mid, rc, _p: self._put(self.pubacks, mid, rc.value)
        c.on_subscribe = lambda _c, _u, mid, rcs, _p: self._put(self.subacks, mid,
                                                                [r.value for r in rcs])
        c.on_message = lambda _c, _u, msg: self._put_msg(msg)
        c.on_disconnect = lambda *_a: self._set("closed", True)
        c.on_connect_fail = lambda *_a: self._set("closed", True)

    def _set(self, name: str, value: Any) -> None:
        if name == "closed":
            self.disconnected.set()
        else:
            setattr(self, name, value)
        self.event.set()

    def _put(self, table: dict[int, Any], key: int, value: Any) -> None:
        table[key] = value
        self.event.set()

    def _put_msg(self, msg: mqtt.MQTTMessage) -> None:
        self.messages.append(msg)
        self.event.set()

    def wait_for(self, cond: Any, timeout: float = 5.0) -> bool:
        """Wait (bounded) until cond() is true."""
        deadline = time.monotonic() + timeout
        while not cond() and time.monotonic() < deadline:
            self.event.wait(0.05)
            self.event.clear()
        return bool(cond())

    def connect(self) -> int:
        """Connect and return the CONNACK reason code (0 = success)."""
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        assert self.wait_for(lambda: self.connack is not None), "no CONNACK"
        assert self.connack is not None
        return self.connack

    def try_connect(self, timeout: float = 3.0) -> int | None:
        """Connect; the CONNACK reason code, or None if TLS or the broker refused first."""
        try:
            self.client.connect("127.0.0.1", self.port)
        except (OSError, ssl.SSLError):
            return None
        self.client.loop_start()
        self.wait_for(lambda: self.connack is not None or self.disconnected.is_set(), timeout)
        return self.connack

    def publish(self, topic: str, payload: bytes = b"{}", retain: bool = False) -> int:
        """QoS 1 publish; return the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        assert self.wait_for(lambda: info.mid in self.pubacks), f"no PUBACK for {topic}"
        return self.pubacks[info.mid]

    def subscribe(self, topic: str) -> int:
        """Subscribe at QoS 1; return the SUBACK reason code."""
        _rc, mid = self.client.subscribe(topic, qos=1)
        assert mid is not None
        assert self.wait_for(lambda: mid in self.subacks), f"no SUBACK for {topic}"
        return self.subacks[mid][0]

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


def prepare_node(lab: Lab) -> Netns:
    """A node namespace with two uplinks to an 'isp' namespace (eth0 default) and a br0 LAN."""
    node, isp = lab.add("node"), lab.add("isp")
    lab.link(node, "eth0", "10.1.0.2/24", isp, "up0", "10.1.0.1/24")
    lab.link(node, "eth1", "10.2.0.2/24", isp, "up1", "10.2.0.1/24")
    node.run("ip", "link", "add", "br0", "type", "bridge")
    node.run("ip", "addr", "add", "10.30.1.1/24", "dev", "br0")
    node.run("ip", "link", "set", "br0", "up")
    node.run("ip", "route", "add", "default", "via", "10.1.0.1")
    return node
