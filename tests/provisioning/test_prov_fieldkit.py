"""kotanet-provision fieldkit: a field laptop can run sdcard, label and verify of its nodes
without the CA key, the signing key, node passwords or password hashes (every file parsed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cardhelp import FatCard, files_on, ssh_public_key
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from provhelp import make_deployment, node_password

from provisioning.cli import main
from provisioning.deployment import Deployment
from provisioning.tokens import UsedTokens, redeem_token

PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.S)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Deployment, Path]:
    root = tmp_path_factory.mktemp("fieldkit")
    dep = make_deployment(root, extra=("--helpdesk", "0531-21000"))
    kit = root / "usb" / "fieldkit"
    assert main(["--lang", "en", "-d", str(dep.root), "fieldkit", "tks-01", "bupati-01",
                 "--out", str(kit)]) == 0
    return dep, kit


def _no_private_key(path: Path, data: bytes) -> None:
    """Parse a file every way a private key could be in it; only certificates and public
    keys may be found."""
    for block in PEM_BLOCK.finditer(data):
        kind = block.group(1).decode()
        assert "PRIVATE" not in kind, f"{path}: {kind}"
        if kind == "CERTIFICATE":
            x509.load_pem_x509_certificate(block.group(0))
        else:
            assert kind == "PUBLIC KEY", f"{path}: {kind}"
            serialization.load_pem_public_key(block.group(0))
        with pytest.raises((ValueError, TypeError)):
            serialization.load_pem_private_key(block.group(0), password=None)
    for loader in (serialization.load_der_private_key, serialization.load_pem_private_key):
        with pytest.raises((ValueError, TypeError)):
            loader(data, password=None)
    with pytest.raises((ValueError, TypeError)):
        serialization.load_ssh_private_key(data, password=None)


def test_fieldkit_holds_no_private_key_and_no_password_hash(made: tuple[Deployment, Path]) -> None:
    dep, kit = made
    files = sorted(p for p in kit.rglob("*") if p.is_file())
    assert {str(p.relative_to(kit)) for p in files} >= {
        "fieldkit.json", "deployment.json", "manifest.json", "pki/ca.crt", "pki/signing.pub",
        "secrets/verifier.password", "tokens/tks-01.token", "tokens/bupati-01.token",
        "bundles/nodes/tks-01/etc/kotanet/agent.toml",
        "bundles/nodes/tks-01/etc/systemd/system/kotanet-enroll.service"}
    secrets = [dep.read("ca.key"), dep.read("signing.key"),
               (dep.broker_dir / "server.key").read_bytes(),
               node_password(dep, "tks-01").encode(), dep.service_password("central").encode()]
    manifest = json.loads(dep.manifest_path.read_text())["nodes"]
    secrets += [h.encode() for e in manifest.values() for h in e["hashes"].values()]
    for path in files:
        data = path.read_bytes()
        _no_private_key(path, data)
        if path.suffix == ".json":
            json.loads(data)
        for secret in secrets:
            assert secret.strip() not in data, path
    assert not (kit / "bundles/nodes/tks-01/etc/kotanet/mqtt-password").exists()
    assert not (kit / "bundles/nodes/tks-02").exists()  # only the nodes asked for
    assert (kit / "secrets/verifier.password").stat().st_mode & 0o077 == 0
    assert (kit / "tokens/tks-01.token").stat().st_mode & 0o077 == 0


def test_the_field_laptop_makes_a_card_a_label_and_refuses_noc_commands(
        made: tuple[Deployment, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    dep, kit = made
    key = ssh_public_key(tmp_path / "ssh")
    with FatCard(tmp_path / "card") as boot:
        assert main(["--lang", "id", "-d", str(kit), "sdcard", "tks-01", "--boot", str(boot),
                     "--ssh-key", str(key)]) == 0
        token = files_on(boot)["kotanet/enroll.token"].strip()
        capsys.readouterr()
        # the same kit token on a second card: allowed (a re-written card), with a note
        assert main(["--lang", "id", "-d", str(kit), "sdcard", "tks-01", "--boot", str(boot),
                     "--ssh-key", str(key)]) == 0
        assert "Hanya SATU kartu yang bisa mendaftar" in capsys.readouterr().out
    claims = redeem_token(dep.read("signing.pub"), token, UsedTokens(tmp_path / "used.json"))
    assert claims["node"] == "tks-01"  # central accepts the kit's token
    assert main(["--lang", "id", "-d", str(kit), "label", "bupati-01", "--out",
                 str(tmp_path / "labels")]) == 0
    assert (tmp_path / "labels/bupati-01-label.png").is_file()
    capsys.readouterr()
    for argv in (["build", "examples/inventory/sampit.yaml"], ["rotate", "tks-01"],
                 ["revoke", "tks-01", "--yes"], ["fieldkit", "tks-01", "--out", str(tmp_path)]):
        assert main(["--lang", "id", "-d", str(kit), *argv]) == 1
        assert f"{kit} adalah paket lapangan: '{argv[0]}' hanya bisa dijalankan di NOC" in \
            capsys.readouterr().out
    assert main(["--lang", "id", "init", str(kit)]) == 1
    assert main(["--lang", "id", "-d", str(kit), "label", "tks-02"]) == 1
    assert "kotanet-provision fieldkit tks-02 --out DIR" in capsys.readouterr().out


def test_an_expired_kit_token_writes_nothing(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path, extra=("--token-ttl", "1"))
    kit = tmp_path / "kit"
    assert main(["-d", str(dep.root), "fieldkit", "tks-02", "--out", str(kit)]) == 0
    import time

    time.sleep(1.1)
    with FatCard(tmp_path / "card") as boot:
        before = files_on(boot)
        assert main(["--lang", "en", "-d", str(kit), "sdcard", "tks-02", "--boot", str(boot),
                     "--no-ssh"]) == 1
        assert files_on(boot) == before
    assert "has expired. Ask the NOC for a new field kit: kotanet-provision fieldkit tks-02" in \
        capsys.readouterr().out


def test_fieldkit_refuses_unknown_or_revoked_nodes_and_foreign_folders(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dep = make_deployment(tmp_path)
    busy = tmp_path / "photos"
    busy.mkdir()
    (busy / "holiday.jpg").write_bytes(b"jpeg")
    assert main(["--lang", "en", "-d", str(dep.root), "fieldkit", "tks-01", "--out",
                 str(busy)]) == 1
    assert (busy / "holiday.jpg").exists() and len(list(busy.iterdir())) == 1
    assert main(["--lang", "en", "-d", str(dep.root), "fieldkit", "tks-99", "--out",
                 str(tmp_path / "k")]) == 1
    assert not (tmp_path / "k").exists()
    out = capsys.readouterr().out
    assert "is not a field kit; refusing to overwrite it" in out
    assert "Node tks-99 is not in the manifest" in out
