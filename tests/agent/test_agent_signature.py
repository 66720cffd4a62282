"""The agent's signature check (agent.policy.signature, pure) against central's signer."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.policy.signature import KeyRing, check_signature
from central.commands.signer import CommandSigner
from protocol.codec import encode
from protocol.messages import Command
from protocol.signing import b64url

T0 = 1_700_000_000_000
CENTRAL = CommandSigner(Ed25519PrivateKey.generate())
OTHER = CommandSigner(Ed25519PrivateKey.generate())
RING = KeyRing.from_config({CENTRAL.key_id: b64url(CENTRAL.public_key)})
BODY: dict[str, Any] = {"site": "s1", "node": "n1", "ts_ms": T0, "cmd_id": "c1",
                        "kind": "set_throttle", "version": 5, "epoch": 3, "issued_at_ms": T0,
                        "expires_at_ms": T0 + 60_000, "params": {"down_kbps": 2000}}


def signed(signer: CommandSigner = CENTRAL, **over: Any) -> Command:
    return signer.sign(Command.model_validate({**BODY, **over}))


def verdict(cmd: Command, payload: Any = None) -> tuple[str, str] | None:
    got = check_signature(RING, encode(cmd) if payload is None else payload, cmd.key_id, cmd.sig)
    return None if got is None else got


def test_a_command_central_signed_verifies_as_bytes_and_as_object() -> None:
    cmd = signed()
    assert verdict(cmd) is None
    assert verdict(cmd, cmd.model_dump(mode="json", by_alias=True)) is None


def test_unsigned_and_half_signed_commands_are_refused() -> None:
    cmd = Command.model_validate(BODY)
    assert verdict(cmd)[0] == "unsigned"  # type: ignore[index]
    no_sig = signed().model_copy(update={"sig": None})
    assert verdict(no_sig)[0] == "unsigned"  # type: ignore[index]


def test_a_key_the_agent_does_not_trust_is_unknown_key() -> None:
    assert verdict(signed(OTHER))[0] == "unknown_key"  # type: ignore[index]
    assert verdict(signed(CENTRAL), None) is None
    assert check_signature(KeyRing(), encode(signed()), CENTRAL.key_id, signed().sig) == (
        "unknown_key", f"key {CENTRAL.key_id!r} is not trusted here")


def test_another_keys_signature_under_central_key_id_is_bad_signature() -> None:
    forged = signed(OTHER).model_copy(update={"key_id": CENTRAL.key_id})
    assert verdict(forged)[0] == "bad_signature"  # type: ignore[index]


@pytest.mark.parametrize(("field", "value"), [
    ("site", "s2"), ("node", "n2"), ("ts_ms", T0 + 1), ("cmd_id", "c2"), ("kind", "failover"),
    ("version", 6), ("epoch", 4), ("issued_at_ms", T0 - 1), ("expires_at_ms", T0 + 10**9),
    ("params", {"down_kbps": 2001}), ("params", {"down_kbps": 2000, "up_kbps": 10}),
])
def test_changing_any_field_breaks_the_signature(field: str, value: Any) -> None:
    tampered = signed().model_copy(update={field: value})
    assert verdict(tampered)[0] == "bad_signature"  # type: ignore[index]


def test_an_added_unknown_field_breaks_the_signature() -> None:
    obj = signed().model_dump(mode="json", by_alias=True)
    obj["priority"] = "high"
    cmd = signed()
    assert check_signature(RING, obj, cmd.key_id, cmd.sig)[0] == "bad_signature"  # type: ignore[index]


def test_garbage_signature_text_is_bad_signature_not_an_exception() -> None:
    cmd = signed()
    assert check_signature(RING, encode(cmd), cmd.key_id, "A" * 86)[0] == "bad_signature"  # type: ignore[index]
    assert check_signature(RING, b"{not json", cmd.key_id, cmd.sig)[0] == "bad_signature"  # type: ignore[index]


def test_key_ring_from_config_refuses_a_wrong_length_key() -> None:
    with pytest.raises(ValueError):
        KeyRing.from_config({"k-x": b64url(b"\x01" * 31)})
