"""A real mosquitto 2.0.11 started with the generated mosquitto.conf, passwd and ACL (TLS)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from provhelp import GeneratedBroker, Probe, make_deployment, node_password

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
