"""A real mosquitto 2.0.11 started with the generated mosquitto.conf, passwd and ACL (TLS)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from provhelp import GeneratedBroker, Probe, make_deployment, node_password

from central.collector.mqtt_conn import share_group
from central.config import CentralConfig
from protocol.topics import SHARE_GROUP
from provisioning.deployment import Deployment
from provisioning.pki import make_ca

pytestmark = pytest.mark.broker

P = "kotanet/v1/node/taman-kota-sampit"
NOT_AUTHORIZED = 135  # MQTT 5 reason code 0x87
NO_SUBSCRIBERS = 16   # 0x10: accepted, but nobody subscribed
GRANTED_QOS1 = 1


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return make_deployment(tmp_path_factory.mktemp("broker"))


@pytest.fixture(scope="module")
def broker(dep: Deployment) -> Iterator[GeneratedBroker]:
    with GeneratedBroker(dep) as b:
        yield b


@pytest.fixture
def probes(dep: Deployment, broker: GeneratedBroker) -> Iterator[list[Probe]]:
    made: list[Probe] = []
    yield made
    for p in made:
        p.close()


def connect(dep: Deployment, probes: list[Probe], user: str, password: str | None) -> Probe:
    p = Probe(dep, user, password)
    probes.append(p)
    assert p.connect() == 0
    return p


def test_tls_with_project_ca_works_and_other_ca_or_plaintext_fails(
        dep: Deployment, broker: GeneratedBroker, probes: list[Probe], tmp_path: Path) -> None:
    conf = (dep.broker_dir / "mosquitto.conf").read_text()
    assert "certfile" in conf and "cafile" in conf and "allow_anonymous false" in conf
    connect(dep, probes, "central", dep.service_password("central"))
    _, other_ca = make_ca("some other CA")
    (tmp_path / "other.crt").write_bytes(other_ca)
    stranger = Probe(dep, "central", dep.service_password("central"), ca=str(tmp_path / "other.crt"))
    with pytest.raises(ssl.SSLCertVerificationError):
        stranger.client.connect("127.0.0.1", broker.port)
    with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as s:
        s.sendall(b"\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x03abc")  # plaintext CONNECT
        s.settimeout(5)
        try:
            reply = s.recv(4)
        except (ConnectionResetError, TimeoutError):
            reply = b""
        assert not reply.startswith(b"\x20")  # never a CONNACK without TLS


def test_wrong_password_is_refused(dep: Deployment, broker: GeneratedBroker) -> None:
    p = Probe(dep, "tks-01", "not-the-password")
    try:
        assert p.connect() == NOT_AUTHORIZED
    finally:
        p.close()


def test_node_can_only_publish_its_own_topics(dep: Deployment, probes: list[Probe]) -> None:
    central = connect(dep, probes, "central", dep.service_password("central"))
    assert central.subscribe("kotanet/v1/node/+/+/+") == GRANTED_QOS1
    a = connect(dep, probes, "tks-01", node_password(dep, "tks-01"))
    assert a.publish(f"{P}/tks-01/birth", b"own") == 0
    assert a.publish(f"{P}/tks-01/tele", b"own") == 0
    assert a.publish(f"{P}/tks-02/birth", b"spoof") == NOT_AUTHORIZED   # as node B
    assert a.publish(f"{P}/tks-02/state", b"spoof") == NOT_AUTHORIZED
    assert a.publish(f"{P}/tks-01/cmd", b"cmd") == NOT_AUTHORIZED      # commands: central only
    assert a.publish(f"{P}/tks-02/cmd", b"cmd") == NOT_AUTHORIZED
    assert a.publish("kotanet/v1/central/c1/state", b"fake") == NOT_AUTHORIZED
    assert central.wait_for(lambda: len(central.messages) >= 2)
    assert sorted(m.payload for m in central.messages) == [b"own", b"own"]


def test_node_cannot_read_other_nodes(dep: Deployment, probes: list[Probe]) -> None:
    central = connect(dep, probes, "central", dep.service_password("central"))
    a = connect(dep, probes, "tks-01", node_password(dep, "tks-01"))
    b = connect(dep, probes, "tks-02", node_password(dep, "tks-02"))
    # mosquitto 2.0.11 grants the SUBACK (QoS 1) and enforces the read ACL per message
    assert a.subscribe(f"{P}/tks-02/cmd") == GRANTED_QOS1
    assert a.subscribe("kotanet/v1/node/+/+/tele") == GRANTED_QOS1
    assert a.subscribe(f"{P}/tks-01/cmd") == GRANTED_QOS1
    assert b.subscribe(f"{P}/tks-02/cmd") == GRANTED_QOS1
    assert central.publish(f"{P}/tks-02/cmd", b"for-b") == 0
    assert b.publish(f"{P}/tks-02/tele", b"b-tele") == 0
    assert central.publish(f"{P}/tks-01/cmd", b"for-a") == 0
    # a's own command arrives last; by then b's command and telemetry would have arrived too
    assert a.wait_for(lambda: any(m.payload == b"for-a" for m in a.messages))
    assert b.wait_for(lambda: any(m.payload == b"for-b" for m in b.messages))
    assert [m.payload for m in a.messages] == [b"for-a"]


def test_verifier_reads_everything_and_writes_nothing(dep: Deployment, probes: list[Probe]) -> None:
    v = connect(dep, probes, "verifier", dep.service_password("verifier"))
    assert v.subscribe("kotanet/v1/node/+/+/birth") == GRANTED_QOS1
    a = connect(dep, probes, "bupati-01", node_password(dep, "bupati-01"))
    assert a.publish("kotanet/v1/node/kantor-bupati/bupati-01/birth", b"hello") == 0
    assert v.wait_for(lambda: [m.payload for m in v.messages] == [b"hello"])
    assert v.publish(f"{P}/tks-01/cmd", b"x") == NOT_AUTHORIZED


# ---------------------------------------------------------------- a stolen node's credentials
# tks-01 (taman-kota-sampit) is the stolen node; tks-02 shares its site, bupati-01 is elsewhere.
V1 = "kotanet/v1"
OWN = f"{P}/tks-01"
OTHER_SITE = f"{V1}/node/kantor-bupati"
NODE_KINDS = ("birth", "tele", "state", "ack")
FORBIDDEN_PUBLISH = [
    *(f"{P}/tks-02/{k}" for k in NODE_KINDS),                 # a neighbour at the same site
    *(f"{OTHER_SITE}/bupati-01/{k}" for k in NODE_KINDS),     # a node at another site
    *(f"{OTHER_SITE}/tks-01/{k}" for k in NODE_KINDS),        # its own id under another site
    *(f"{V1}/node/{s}/tks-01/tele" for s in ("taman-religi", "no-such-site")),
    f"{OWN}/cmd", f"{OWN}/rx", f"{P}/tks-02/cmd", f"{P}/tks-02/rx",  # central's topics
    f"{OTHER_SITE}/bupati-01/cmd", f"{V1}/central/central-1/state", f"{V1}/central/evil/state",
    f"{OWN}/birth/extra", f"{OWN}/other", f"{V1}/node/taman-kota-sampit", "kotanet/v2/x",
    "unrelated/topic",
]


def _hostile(dep: Deployment, probes: list[Probe]) -> Probe:
    return connect(dep, probes, "tks-01", node_password(dep, "tks-01"))


def test_stolen_node_publishes_nothing_outside_its_own_topics(
        dep: Deployment, probes: list[Probe]) -> None:
    """Every publish off its own four topics, retained or not, is refused (PUBACK 0x87); a
    subscriber with central's rights sees none of them live nor retained afterwards."""
    central = connect(dep, probes, "central", dep.service_password("central"))
    assert central.subscribe(f"{V1}/#") == GRANTED_QOS1
    a = _hostile(dep, probes)
    refused = {(t, r): a.publish(t, b"hostile", retain=r) for t in FORBIDDEN_PUBLISH
               for r in (False, True)}
    assert {k: v for k, v in refused.items() if v != NOT_AUTHORIZED} == {}
    assert a.publish(f"{OWN}/tele", b"marker") == 0  # its own topic: allowed, arrives last
    assert central.wait_for(lambda: any(m.payload == b"marker" for m in central.messages))
    assert [(m.topic, m.payload) for m in central.messages] == [(f"{OWN}/tele", b"marker")]
    fresh = connect(dep, probes, "central", dep.service_password("central"))
    assert fresh.subscribe(f"{V1}/#") == GRANTED_QOS1  # retained messages would arrive now
    assert a.publish(f"{OWN}/ack", b"marker-2") == 0
    assert fresh.wait_for(lambda: any(m.payload == b"marker-2" for m in fresh.messages))
    assert [m.payload for m in fresh.messages] == [b"marker-2"], "something was retained"


def test_stolen_node_cannot_read_commands_or_join_the_collectors(
        dep: Deployment, probes: list[Probe]) -> None:
    """Subscriptions to other nodes' commands, to everything, or to a shared group deliver
    nothing; the collectors keep receiving every node's telemetry. (mosquitto grants any
    SUBACK; in the collectors' group it would hand tks-01 a share of the messages and drop
    them: that group's name is secret, central.collector.mqtt_conn.share_group.)"""
    a = _hostile(dep, probes)
    b = connect(dep, probes, "tks-02", node_password(dep, "tks-02"))
    password = dep.service_password("central")
    collector = connect(dep, probes, "central", password)
    cfg = CentralConfig.model_validate({"mqtt": {"url": f"mqtts://central:{password}@h:1"}})
    group = share_group(cfg)  # what central/collector/service.py subscribes with
    assert collector.subscribe(f"$share/{group}/{V1}/node/+/+/tele") == GRANTED_QOS1
    for topic in (f"{P}/tks-02/cmd", f"{OTHER_SITE}/bupati-01/cmd", f"{V1}/node/+/+/cmd",
                  f"{V1}/node/+/+/rx", f"{V1}/#", "#", f"$share/collectors/{V1}/node/+/+/tele",
                  f"$share/{SHARE_GROUP}/{V1}/node/#", f"$share/x/{V1}/node/+/+/+",
                  f"{OWN}/cmd"):
        a.subscribe(topic)  # mosquitto may grant: the read ACL is enforced per message
    for i in range(20):  # in a shared group the broker would hand some of these to tks-01
        assert b.publish(f"{P}/tks-02/tele", f"b-tele-{i}".encode()) in (0, NO_SUBSCRIBERS)
    assert collector.publish(f"{P}/tks-02/cmd", b"for-b") == 0
    assert collector.publish(f"{OTHER_SITE}/bupati-01/cmd", b"for-bupati") == 0
    assert collector.publish(f"{P}/tks-02/rx", b"rx-for-b") == 0
    assert collector.publish(f"{OWN}/cmd", b"for-a") == 0  # its own command arrives last
    assert a.wait_for(lambda: any(m.payload == b"for-a" for m in a.messages))
    assert {m.payload for m in a.messages} == {b"for-a"}  # one copy per matching subscription
    assert collector.wait_for(lambda: len(collector.messages) >= 20)
    assert sorted(m.payload for m in collector.messages) == sorted(
        f"b-tele-{i}".encode() for i in range(20)), "a collector lost telemetry to tks-01"


def test_stolen_node_cannot_leave_a_will_on_another_nodes_state(
        dep: Deployment, probes: list[Probe]) -> None:
    """A Will naming another node's state topic is never published (the CONNECT is refused
    or the Will dropped): presence of tks-02 cannot be faked by tks-01 going away."""
    central = connect(dep, probes, "central", dep.service_password("central"))
    assert central.subscribe(f"{P}/+/state") == GRANTED_QOS1
    a = Probe(dep, "tks-01", node_password(dep, "tks-01"))
    a.client.will_set(f"{P}/tks-02/state", b"fake-offline", qos=1, retain=True)
    rc = a.try_connect()
    if rc == 0:  # then kill the connection without DISCONNECT: the broker sends the Will
        sock = a.client.socket()
        assert sock is not None
        sock.shutdown(socket.SHUT_RDWR)
    a.client.loop_stop()
    b = connect(dep, probes, "tks-02", node_password(dep, "tks-02"))
    assert b.publish(f"{P}/tks-02/state", b"marker") == 0
    assert central.wait_for(lambda: any(m.payload == b"marker" for m in central.messages))
    assert [m.payload for m in central.messages] == [b"marker"]
    assert b.publish(f"{P}/tks-02/state", b"", retain=True) == 0  # clear what we retained

