"""Signed commands: the canonical bytes cover every field, ignore key order, whitespace and
number spelling, follow RFC 8785, and the golden example verifies with the test-vector key."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from protocol.codec import decode, encode
from protocol.commands import KeyAnnouncement
from protocol.messages import Command
from protocol.signing import (
    SIGNING_CONTEXT,
    b64url,
    canonical_json,
    signing_bytes,
    unb64url,
)
from protocol.topics import Topics

GOLDEN = Path(__file__).resolve().parents[2] / "docs" / "examples" / "cmd.json"
TEST_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"kotanet test vector key k1").digest())
TEST_PUBLIC = "PpsxkOUNz3VT-3WT5n9u9-9Z4P959D_paeKpkQy6nyU"
T = Topics()


def _golden() -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return obj


def _verify(public: str, sig: str, data: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(unb64url(public)).verify(unb64url(sig), data)
    except InvalidSignature:
        return False
    return True


def test_golden_command_verifies_with_the_test_vector_key() -> None:
    raw = GOLDEN.read_bytes()
    pub = TEST_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert b64url(pub) == TEST_PUBLIC
    _, cmd = decode(T, T.node("taman-kota", "tk-01", "cmd"), raw)
    assert isinstance(cmd, Command) and cmd.key_id == "k1" and cmd.sig
    assert _verify(TEST_PUBLIC, cmd.sig, signing_bytes(raw))
    assert signing_bytes(cmd) == signing_bytes(raw) == signing_bytes(encode(cmd))
    assert b64url(TEST_KEY.sign(signing_bytes(cmd))) == cmd.sig  # Ed25519 is deterministic


def test_key_order_whitespace_and_number_spelling_do_not_matter() -> None:
    obj = _golden()
    shuffled = dict(reversed(list(obj.items())))
    shuffled["params"] = {k: float(v) for k, v in reversed(list(obj["params"].items()))}
    pretty = json.dumps(shuffled, indent=4, ensure_ascii=True).encode()
    assert signing_bytes(pretty) == signing_bytes(GOLDEN.read_bytes())


@pytest.mark.parametrize("field,value", [
    ("site", "kantor-bupati"), ("node", "tk-02"), ("ts_ms", 1), ("cmd_id", "c-2"),
    ("kind", "clear_throttle"), ("version", 9), ("epoch", 4), ("issued_at_ms", 1),
    ("expires_at_ms", 2), ("params", {"down_kbps": 20001}), ("key_id", "k2"),
    ("schema", "kotanet.cmd/2"), ("future_field", 1),
])
def test_every_field_is_covered(field: str, value: Any) -> None:
    obj = _golden()
    obj[field] = value
    changed = signing_bytes(json.dumps(obj).encode())
    assert changed != signing_bytes(GOLDEN.read_bytes())
    assert not _verify(TEST_PUBLIC, obj["sig"], changed)


def test_the_signature_itself_is_not_signed() -> None:
    obj = _golden()
    obj["sig"] = "A" * 86
    assert signing_bytes(obj) == signing_bytes(_golden())
    assert signing_bytes(obj).startswith(SIGNING_CONTEXT)


def test_key_announcement_is_signed_the_same_way() -> None:
    k2 = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ann = KeyAnnouncement(key_id="k2", public_key=b64url(k2), issued_at_ms=5, signed_by="k1")
    signed = ann.model_copy(update={"sig": b64url(TEST_KEY.sign(signing_bytes(ann)))})
    wire = json.dumps(signed.model_dump(mode="json", by_alias=True)).encode()
    assert b'"schema": "kotanet.key/1"' in wire
    assert _verify(TEST_PUBLIC, signed.sig or "", signing_bytes(wire))
    forged = wire.replace(b'"k2"', b'"k3"')
    assert not _verify(TEST_PUBLIC, signed.sig or "", signing_bytes(forged))


# RFC 8785 appendix B: IEEE-754 doubles and their canonical text
RFC8785_NUMBERS = [
    ("0000000000000000", "0"), ("8000000000000000", "0"), ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"), ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"), ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"), ("44b52d02c7e14af6", "1e+23"),
    ("444b1ae4d6e2ef50", "1e+21"), ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"), ("41b3de4355555554", "333333333.33333325"),
    ("becbf647612f3696", "-0.0000033333333333333333"), ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize("bits,text", RFC8785_NUMBERS)
def test_numbers_follow_rfc8785(bits: str, text: str) -> None:
    assert canonical_json(struct.unpack(">d", bytes.fromhex(bits))[0]) == text.encode()


def test_keys_sort_by_utf16_and_strings_escape_minimally() -> None:
    # RFC 8785 3.2.3: U+1F600 (UTF-16 D83D DE00) sorts before U+FB33
    keys = ["\u20ac", "\r", "\ufb33", "1", "\U0001f600", "\u0080", "\u00f6"]
    got = canonical_json({k: i for i, k in enumerate(keys)}).decode()
    assert [json.loads(f"[{p.split(':')[0]}]")[0] for p in got[1:-1].split(",")] == \
        ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    assert canonical_json("a\"\\\n\u001f\u00e9\u2028") == '"a\\"\\\\\\n\\u001f\u00e9\u2028"'.encode()
    assert canonical_json([2**63 - 1, -(2**63), True, None]) == \
        b"[9223372036854775807,-9223372036854775808,true,null]"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {1: "x"}, object(), "\ud800"])
def test_what_cannot_be_signed_raises_value_error(bad: Any) -> None:
    with pytest.raises(ValueError):
        canonical_json({"x": bad})


@pytest.mark.parametrize("payload", [b"", b"[1]", b"{", b'{"a": NaN}', b"\xff"])
def test_signing_bytes_of_garbage_raises_value_error(payload: bytes) -> None:
    with pytest.raises(ValueError):
        signing_bytes(payload)


def test_base64url_helpers_refuse_padding_and_garbage() -> None:
    assert unb64url(b64url(b"\x00\xff" * 20)) == b"\x00\xff" * 20
    for bad in ("AAA=", "A", "AB*C", "ABCD*EFG", "AB+/", "ABCD\n"):
        with pytest.raises(ValueError):
            unb64url(bad)
