"""Certificate mode: node client certificates (CN = node id) and revocation through the CRL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from provhelp import GeneratedBroker, Probe, make_deployment

from agent.config import load_config
from provisioning.cli import main
from provisioning.deployment import Deployment
from provisioning.pki import cert_cn

pytestmark = pytest.mark.broker

P = "kotanet/v1/node/taman-kota-sampit"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[Deployment, GeneratedBroker]]:
    dep = make_deployment(tmp_path, extra=("--auth", "cert"))
    with GeneratedBroker(dep) as broker:
        yield dep, broker


def node_cert(dep: Deployment, node: str) -> Path:
    return dep.root / "bundles/nodes" / node / "etc/kotanet/client.crt"


def attempt(dep: Deployment, cert: Path | None, user: str = "ignored") -> int | None:
    p = Probe(dep, user, None, cert=cert)
    try:
        return p.try_connect()
    finally:
        p.close()


def test_node_certificate_is_its_identity(env: tuple[Deployment, GeneratedBroker]) -> None:
    dep, _ = env
    cfg = load_config(node_cert(dep, "tks-01").parent / "agent.toml")
    assert cfg.mqtt.cert_file == "/etc/kotanet/client.crt" and cfg.mqtt.password_file is None
    assert cert_cn(node_cert(dep, "tks-01").read_bytes()) == "tks-01"
    assert node_cert(dep, "tks-01").with_suffix(".key").stat().st_mode & 0o077 == 0
    # the username sent is ignored: the certificate's CN is the identity the ACL sees
    a = Probe(dep, "tks-02", None, cert=node_cert(dep, "tks-01"))
    try:
        assert a.connect() == 0
        assert a.publish(f"{P}/tks-01/birth") in (0, 16)
        assert a.publish(f"{P}/tks-02/birth") == 135
    finally:
        a.close()
    assert attempt(dep, None, "tks-01") is None  # no certificate: refused in the TLS handshake
    assert attempt(dep, dep.secrets / "verifier.crt") == 0


def test_revoke_puts_the_certificate_on_the_crl(env: tuple[Deployment, GeneratedBroker]) -> None:
    dep, broker = env
    assert attempt(dep, node_cert(dep, "tks-01")) == 0
    before = broker.reloads()
    assert main(["-d", str(dep.root), "revoke", "tks-01", "--yes", "--pid-file", str(broker.pid_file)]) == 0
    broker.wait_reloaded(before)
    assert attempt(dep, node_cert(dep, "tks-01")) is None
    assert attempt(dep, node_cert(dep, "tks-02")) == 0
