"""Broker limits and secret hygiene with the real mosquitto: packet size cap, PBKDF2 iteration
count the broker accepts, private deployment files."""

from __future__ import annotations

import json
import stat
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from provhelp import GeneratedBroker, Probe, make_deployment, node_password

from protocol.codec import MAX_PAYLOAD_BYTES
from provisioning.cli import main as cli_main
from provisioning.localbroker import LocalBroker
from provisioning.mosquitto import (
    GENERATED_ITERATIONS,
    MAX_PACKET_SIZE,
    check_password,
    generated_hash,
    password_hash,
)

pytestmark = pytest.mark.broker

TOPIC = "kotanet/v1/kt-limits/big"


class Client:
    """A plain-TCP paho client recording CONNACK properties, messages and disconnects."""

    def __init__(self, broker: LocalBroker, user: str, password: str, v5: bool = True) -> None:
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2,
                             protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
        self.c.username_pw_set(user, password)
        self.connack: int | None = None
        self.max_packet: int | None = None
        self.got: list[int] = []
        self.acked: set[int] = set()
        self.closed = threading.Event()
        self.c.on_connect = self._on_connect
        self.c.on_message = lambda _c, _u, msg: self.got.append(len(msg.payload))
        self.c.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        self.c.on_disconnect = lambda *_a: self.closed.set()
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        assert wait(lambda: self.connack is not None), "no CONNACK"

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, rc: object, props: object) -> None:
        self.max_packet = getattr(props, "MaximumPacketSize", None)
        self.connack = int(getattr(rc, "value", 0))

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def wait(cond: object, timeout: float = 5.0) -> bool:
    """Poll cond() (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return bool(cond())  # type: ignore[operator]


def test_packet_limit_covers_the_codec_limit() -> None:
    assert MAX_PACKET_SIZE >= MAX_PAYLOAD_BYTES + 1024
    assert MAX_PACKET_SIZE <= 1_000_000


def test_broker_refuses_400kb_publish_and_passes_200kb(broker: LocalBroker) -> None:
    su = "kt-test"
    sub = Client(broker, su, broker.passwords[su])
    # MQTT 3.1.1 publisher: it knows no Maximum Packet Size, so only the broker can stop it
    pub = Client(broker, su, broker.passwords[su], v5=False)
    try:
        assert sub.max_packet == MAX_PACKET_SIZE, "CONNACK advertises the limit to MQTT 5 clients"
        sub.c.subscribe(TOPIC, qos=1)
        time.sleep(0.3)
        ok = pub.c.publish(TOPIC, b"x" * 200_000, qos=1)
        assert wait(lambda: ok.mid in pub.acked), "200 kB publish not acknowledged"
        assert wait(lambda: 200_000 in sub.got), "200 kB message not delivered"
        pub.c.publish(TOPIC, b"y" * 400_000, qos=1)
        assert pub.closed.wait(5), "the broker kept a client that sent 400 kB"
        time.sleep(0.5)
        assert 400_000 not in sub.got, "400 kB message was delivered to subscribers"
    finally:
        pub.close()
        sub.close()


def test_broker_accepts_generated_hashes(broker: LocalBroker) -> None:
    broker.add_user("kt-iter-node", "pw-iter-node")
    line = (broker.dir / "passwd").read_text().split("kt-iter-node:")[1].split("\n")[0]
    assert line.startswith(f"$7${GENERATED_ITERATIONS}$") and GENERATED_ITERATIONS >= 10_000
    t0 = time.monotonic()
    good = Client(broker, "kt-iter-node", "pw-iter-node")
    latency = time.monotonic() - t0
    good.close()
    assert good.connack == 0 and latency < 2.0, (good.connack, latency)
    bad = Client(broker, "kt-iter-node", "wrong")
    bad.close()
    assert bad.connack in (134, 135)


def test_deployment_secrets_are_private_and_hashes_strong(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path)
    assert stat.S_IMODE(dep.root.stat().st_mode) == 0o700
    for rel in ("manifest.json", "broker/passwd", "broker/acl"):
        assert stat.S_IMODE((dep.root / rel).stat().st_mode) == 0o600, rel
    manifest = json.loads(dep.manifest_path.read_text())
    hashes = [h for e in manifest["nodes"].values() for h in e["hashes"].values()]
    passwd = (dep.broker_dir / "passwd").read_text().splitlines()
    assert hashes and all(h.startswith(f"$7${GENERATED_ITERATIONS}$") for h in hashes)
    assert all(ln.split(":", 1)[1].startswith(f"$7${GENERATED_ITERATIONS}$") for ln in passwd)
    with GeneratedBroker(dep):
        probe = Probe(dep, "tks-01", node_password(dep, "tks-01"))
        try:
            assert probe.connect() == 0, "mosquitto 2.0.11 accepts the generated hashes"
        finally:
            probe.close()


def test_rebuild_rehashes_old_weak_hashes_keeping_passwords(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path)
    dep.root.chmod(0o755)  # a deployment made before roots were private
    manifest = json.loads(dep.manifest_path.read_text())
    pw = node_password(dep, "tks-01")
    manifest["nodes"]["tks-01"]["hashes"]["tks-01"] = password_hash(pw, iterations=101)
    dep.manifest_path.write_text(json.dumps(manifest))
    inventory = Path(__file__).resolve().parents[2] / "examples/inventory/sampit.yaml"
    assert cli_main(["--lang", "en", "-d", str(dep.root), "build", str(inventory)]) == 0
    after = json.loads(dep.manifest_path.read_text())["nodes"]["tks-01"]["hashes"]["tks-01"]
    assert after.startswith(f"$7${GENERATED_ITERATIONS}$") and check_password(pw, after)
    assert node_password(dep, "tks-01") == pw, "no lock-out: the node keeps its password"
    assert stat.S_IMODE(dep.root.stat().st_mode) == 0o700
    assert check_password("x", generated_hash("x"))
