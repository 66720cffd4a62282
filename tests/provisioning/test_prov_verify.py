"""verify: inventory -> build -> generated mosquitto -> a node speaking protocol v1 -> checklist.

The node side here is a plain MQTT 5 client using the node's generated credentials and
publishing what an agent publishes (retained state, birth with a config hash, telemetry).
Every ✗ line must name what was expected, what arrived, and one fix (→ line).
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
              uplinks: tuple[str, ...] = ("fiber", "backup"), tele: bool = True,
              files_hash: str | None = None) -> None:
    """Publish like an agent until stopped (bounded): retained state, then birth (+ tele)."""
    node = Probe(dep, NODE, node_password(dep, NODE))
    assert node.connect() == 0
    now = int(time.time() * 1000)
    assert node.publish(f"{T}/state", encode(NodeState(site=SITE, node=NODE, ts_ms=now, online=True,
                                                       session=1)), retain=True) in (0, 16)
    birth = Birth(site=SITE, node=NODE, ts_ms=now, session=1, boot_id="b", agent_version="0.1",
                  config_hash=config_hash, role="office", clock=ClockInfo(synced=True, wall_ms=now),
                  files_hash=files_hash)
    seq = 0
    deadline = time.monotonic() + 30
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            node.publish(f"{T}/birth", encode(birth))
            if tele:
                sample = Sample(ts_ms=now, users=Users(associated=3, leases=4), uplinks=[
                    UplinkSample(name=u, up=(u == "fiber"), rtt_ms=12.0) for u in uplinks])
                node.publish(f"{T}/tele", encode(Tele(site=SITE, node=NODE, ts_ms=now, session=1,
                                                      seq=seq, samples=[sample])))
            seq += 1
            stop.wait(0.2)
    finally:
        node.close()


def run_verify(dep: Deployment, config_hash: str, lang: str, timeout: float,
               capsys: pytest.CaptureFixture[str], *extra: str, kit: Path | None = None,
               **node_kw: object) -> tuple[int, str, str]:
    """The technician's command (broker URL from the deployment, or from the field kit `kit`)
    while a fake node publishes."""
    stop = threading.Event()
    t = threading.Thread(target=fake_node, args=(dep, config_hash, stop), kwargs=node_kw)
    t.start()
    try:
        rc = main(["--lang", lang, "-d", str(kit or dep.root), "verify", NODE, "--timeout",
                   str(timeout), *extra])
    finally:
        stop.set()
        t.join(timeout=10)
    out = capsys.readouterr()
    return rc, out.out, out.err


def expected_hash(dep: Deployment) -> str:
    return str(json.loads(dep.manifest_path.read_text())["nodes"][NODE]["config_hash"])


def test_verify_passes_for_a_correct_node(env: tuple[Deployment, GeneratedBroker],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    dep, broker = env
    rc, out, err = run_verify(dep, expected_hash(dep), "en", 20, capsys)
    assert rc == 0, out
    h = expected_hash(dep)
    assert f"Checking node {NODE} at mqtts://127.0.0.1:{broker.port}" in out  # from deployment.json
    assert f"✓ config hash: expected {h}, the node sent {h}" in out
    assert "✓ node online (retained state at the broker)" in out
    assert "✓ every uplink probed: fiber, backup" in out
    assert "✓ a user-count source found" in out
    assert "✓ clock synchronised (NTP)" in out
    assert "✗" not in out and "→" not in out
    assert out.rstrip().endswith(f"PASS: node {NODE} is ready.")
    assert f"Waiting for {NODE}: 0/20 s" in err  # progress while waiting (stderr)
    assert dep.service_password("verifier") not in out + err


def test_verify_from_a_field_kit(env: tuple[Deployment, GeneratedBroker], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """The field laptop has only the kit (CA certificate, verifier password, settings)."""
    dep, _ = env
    kit = tmp_path / "kit"
    assert main(["-d", str(dep.root), "fieldkit", NODE, "--out", str(kit)]) == 0
    rc, out, _err = run_verify(dep, expected_hash(dep), "id", 20, capsys, kit=kit)
    assert rc == 0, out
    assert f"LULUS: node {NODE} siap." in out


def test_wrong_config_hash_names_both_hashes_and_the_fix_in_indonesian(
        env: tuple[Deployment, GeneratedBroker], capsys: pytest.CaptureFixture[str]) -> None:
    dep, _ = env
    rc, out, err = run_verify(dep, "0000000000000000", "id", 3, capsys)
    assert rc == 1
    lines = out.splitlines()
    bad = lines.index(f"  ✗ hash konfigurasi: diharapkan {expected_hash(dep)}, "
                      "node mengirim 0000000000000000")
    assert lines[bad + 1].startswith("      → Node menjalankan konfigurasi lain")
    assert f"kotanet-provision sdcard {NODE} --boot" in lines[bad + 1]
    assert "✓ node online (status tersimpan di broker)" in out
    assert f"GAGAL: node {NODE} belum siap" in out
    assert "≠ 0000000000000000" in err  # the progress line shows the hash that arrived


def test_node_files_that_differ_from_the_bundle_fail_with_the_fix(
        env: tuple[Deployment, GeneratedBroker], capsys: pytest.CaptureFixture[str]) -> None:
    dep, _ = env
    want = str(json.loads(dep.manifest_path.read_text())["nodes"][NODE]["files_hash"])
    rc, out, _err = run_verify(dep, expected_hash(dep), "en", 20, capsys, files_hash=want)
    assert rc == 0, out
    assert f"✓ node files (hostapd, dnsmasq, nftables, …): expected {want[:12]}…" in out
    rc, out, _err = run_verify(dep, expected_hash(dep), "id", 3, capsys, files_hash="f" * 64)
    assert rc == 1
    lines = out.splitlines()
    bad = lines.index(f"  ✗ berkas node (hostapd, dnsmasq, nftables, …): diharapkan "
                      f"{want[:12]}…, node melaporkan ffffffffffff…")
    assert lines[bad + 1].startswith("      → Berkas node berbeda dari bundel")


def test_no_telemetry_is_its_own_item_not_an_uplink_fault(
        env: tuple[Deployment, GeneratedBroker], capsys: pytest.CaptureFixture[str]) -> None:
    dep, _ = env
    rc, out, _err = run_verify(dep, expected_hash(dep), "en", 3, capsys, tele=False)
    assert rc == 1
    lines = out.splitlines()
    bad = lines.index("  ✗ no telemetry yet within 3 s")
    assert "only sent while central is online" in lines[bad + 1]
    assert "--timeout 180" in lines[bad + 1] and "not an uplink fault" in lines[bad + 1]
    assert "  – uplinks not checked (no telemetry yet)" in lines
    assert "  – user count not checked (no telemetry yet)" in lines
    assert [line for line in lines if line.startswith("  ✗")] == ["  ✗ no telemetry yet within 3 s"]


def test_an_uplink_without_measurement_names_its_interface(
        env: tuple[Deployment, GeneratedBroker], capsys: pytest.CaptureFixture[str]) -> None:
    dep, _ = env
    rc, out, _err = run_verify(dep, expected_hash(dep), "en", 3, capsys, uplinks=("fiber",))
    assert rc == 1
    lines = out.splitlines()
    bad = lines.index("  ✗ uplink(s) without a measurement: backup (expected: fiber, backup)")
    assert "backup (eth1)" in lines[bad + 1] and "'ip link'" in lines[bad + 1]


def test_a_broker_with_another_ca_is_named_as_such(
        env: tuple[Deployment, GeneratedBroker], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The field kit of one deployment against the broker of another: wrong CA, not 'error'."""
    dep, _ = env
    other = make_deployment(tmp_path, build=False)
    with GeneratedBroker(other) as foreign:
        capsys.readouterr()
        rc = main(["--lang", "id", "-d", str(dep.root), "verify", NODE, "--timeout", "3",
                   "--mqtt-url", f"mqtts://127.0.0.1:{foreign.port}"])
    out = capsys.readouterr().out
    assert rc == 2
    assert "  ✗ sertifikat broker (127.0.0.1) tidak ditandatangani CA deployment ini (CA salah)" in out
    assert "      → Pakai pki/ca.crt dari deployment atau paket lapangan yang benar" in out
    assert "CERTIFICATE_VERIFY_FAILED" not in out and "Errno" not in out


@pytest.mark.parametrize(("url", "cause", "fix"), [
    ("mqtts://localhost:{port}", "the name localhost is not in the broker's certificate",
     "run without --mqtt-url (it uses 127.0.0.1 from deployment.json)"),
    ("mqtts://127.0.0.1:{free}", "the broker at 127.0.0.1:{free} refuses connections: "
     "mosquitto is down or the port is wrong", "'systemctl status mosquitto'"),
    ("mqtt://127.0.0.1:{port}", "the broker at 127.0.0.1:{port} does not answer (no CONNACK)",
     "the broker's MQTT port"),
])
def test_connection_errors_are_causes_with_a_fix(
        env: tuple[Deployment, GeneratedBroker], capsys: pytest.CaptureFixture[str],
        url: str, cause: str, fix: str) -> None:
    from provisioning.localbroker import free_port

    dep, broker = env
    values = {"port": broker.port, "free": free_port()}
    rc = main(["--lang", "en", "-d", str(dep.root), "verify", NODE, "--timeout", "3",
               "--mqtt-url", url.format(**values)])
    out = capsys.readouterr().out
    assert rc == 2, out
    assert f"  ✗ {cause.format(**values)}" in out
    assert fix in out.splitlines()[-1] and out.splitlines()[-1].startswith("      → ")


def test_a_wrong_password_is_named_with_the_file_to_use(
        env: tuple[Deployment, GeneratedBroker], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    dep, _ = env
    wrong = tmp_path / "pw"
    wrong.write_text("wrong-password\n")
    rc = main(["--lang", "en", "-d", str(dep.root), "verify", NODE, "--timeout", "3",
               "--password-file", str(wrong)])
    out = capsys.readouterr().out
    assert rc == 2
    assert "  ✗ the broker refuses user verifier: wrong password" in out
    assert "secrets/verifier.password" in out.splitlines()[-1]
    assert "Not authorized" not in out


def test_a_revoked_node_is_said_before_waiting(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path)
    assert main(["-d", str(dep.root), "revoke", NODE, "--yes", "--pid-file",
                 str(tmp_path / "none.pid")]) == 3  # no broker: not reloaded
    capsys.readouterr()
    t0 = time.monotonic()
    assert main(["--lang", "id", "-d", str(dep.root), "verify", NODE]) == 1
    assert time.monotonic() - t0 < 5  # no 120 s wait for a node the broker refuses anyway
    out = capsys.readouterr().out
    assert f"✗ node {NODE} dicabut di manifest" in out
    assert f"kotanet-provision build INVENTARIS --readmit {NODE}" in out


def _cert_from_tomorrow(dep: Deployment) -> None:
    """Replace the broker's certificate by one valid only from tomorrow (same CA, same key):
    what a laptop whose clock is a day behind sees."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ca_key = serialization.load_pem_private_key(dep.read("ca.key"), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate(dep.read("ca.crt"))
    old = x509.load_pem_x509_certificate((dep.broker_dir / "server.crt").read_bytes())
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    builder = (x509.CertificateBuilder().subject_name(old.subject).issuer_name(ca.subject)
               .public_key(old.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(start + dt.timedelta(days=30)))
    for ext in old.extensions:
        builder = builder.add_extension(ext.value, ext.critical)
    cert = builder.sign(ca_key, hashes.SHA256())
    (dep.broker_dir / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_a_wrong_clock_is_named_as_such(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path)
    _cert_from_tomorrow(dep)
    with GeneratedBroker(dep):
        capsys.readouterr()
        rc = main(["--lang", "id", "-d", str(dep.root), "verify", NODE, "--timeout", "3"])
    out = capsys.readouterr().out
    assert rc == 2
    assert "  ✗ sertifikat broker belum berlaku atau sudah kedaluwarsa menurut jam laptop ini" in out
    assert "'timedatectl'" in out.splitlines()[-1]
