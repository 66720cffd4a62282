"""Central's command signing: stable canonical bytes, signatures that verify, key files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.commands.api import load_signer
from central.commands.signer import CommandSigner, load_private
from central.config import load_config
from protocol.codec import encode
from protocol.messages import Command
from protocol.signing import key_id_of, signing_bytes
from provisioning.pki import make_command_key, write_secret

T0 = 1_764_331_215_000
BODY: dict[str, Any] = {"site": "taman-kota", "node": "tk-01", "ts_ms": T0,
                        "cmd_id": "c-1", "kind": "set_throttle", "version": 8, "epoch": 3,
                        "issued_at_ms": T0, "expires_at_ms": T0 + 60_000,
                        "params": {"lease_s": 900, "down_kbps": 20000}}
SEED = bytes.fromhex("baecc58de6232360a3662c7854c868d9f763e613ba8bcd1eb609f5db8d1eeea8")


def test_canonical_bytes_do_not_depend_on_key_order_spacing_or_number_spelling() -> None:
    cmd = CommandSigner(Ed25519PrivateKey.from_private_bytes(SEED)).sign(
        Command.model_validate(BODY))
    wire = encode(cmd)
    obj = json.loads(wire)
    shuffled = json.dumps(dict(reversed(list(obj.items()))), indent=3).encode()
    floats = wire.replace(b'"lease_s":900', b'"lease_s":900.0')
    assert floats != wire
    assert signing_bytes(wire) == signing_bytes(shuffled) == signing_bytes(floats) \
        == signing_bytes(cmd)
    assert signing_bytes(wire).startswith(b"kotanet-sig/1\n{\"cmd_id\":\"c-1\"")
    assert b'"sig"' not in signing_bytes(wire)


def test_signatures_are_deterministic_and_verify() -> None:
    signer = CommandSigner(Ed25519PrivateKey.from_private_bytes(SEED))
    a, b = (signer.sign(Command.model_validate(BODY)) for _ in range(2))
    assert a.sig == b.sig and a.key_id == signer.key_id == key_id_of(signer.public_key)
    assert signer.key_id == "k-7b-IztUI4RKL"  # the protocol.md test-vector key
    assert signer.verify(a.model_dump(mode="json", by_alias=True))
    assert signer.verify(json.loads(encode(a)))


@pytest.mark.parametrize("field", sorted(set(BODY) | {"key_id"}))
def test_tampering_any_field_fails_verification(field: str) -> None:
    signer = CommandSigner(Ed25519PrivateKey.generate())
    obj = json.loads(encode(signer.sign(Command.model_validate(BODY))))
    value = obj[field]
    obj[field] = (value + 1 if isinstance(value, int) else
                  {**value, "down_kbps": 1} if isinstance(value, dict) else value + "x")
    assert not signer.verify(obj)


def test_another_key_and_missing_signature_fail() -> None:
    signer, other = (CommandSigner(Ed25519PrivateKey.generate()) for _ in range(2))
    obj = json.loads(encode(other.sign(Command.model_validate(BODY))))
    assert not signer.verify(obj)
    obj["key_id"] = signer.key_id
    assert not signer.verify(obj)
    assert not signer.verify({k: v for k, v in obj.items() if k != "sig"})


def test_central_reads_its_key_from_config_or_env(tmp_path: Path) -> None:
    key, raw = make_command_key()
    write_secret(tmp_path / "command.key", key)
    cfg = load_config(None, env={"KOTANET_COMMAND_KEY": str(tmp_path / "command.key")})
    signer = load_signer(cfg)
    assert signer is not None and signer.public_key == raw
    conf = tmp_path / "central.toml"
    conf.write_text(f'[commands]\nsigning_key_file = "{tmp_path / "command.key"}"\n')
    from_toml = load_signer(load_config(conf, env={}))
    assert from_toml is not None and from_toml.key_id == key_id_of(raw)
    assert load_signer(load_config(None, env={})) is None


def test_a_file_that_is_not_an_ed25519_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.key").write_text("not a key")
    with pytest.raises(ValueError):
        load_private(tmp_path / "x.key")
    with pytest.raises(ValueError, match="cannot read"):
        load_private(tmp_path / "missing.key")
