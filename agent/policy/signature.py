"""Command signatures on the agent: the trusted key ring and pure checks (the agent's only
import of ``cryptography``). docs/protocol.md section 7.7."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol.commands import KeyAnnouncement
from protocol.signing import b64url, signing_bytes, unb64url

MAX_KEYS = 16


@dataclass
class KeyRing:
    """Command keys the agent trusts (id -> raw public key), keys retired for good, and the
    issue time of the last key announcement applied (replays of older ones are refused)."""

    keys: dict[str, bytes] = field(default_factory=dict)
    retired: set[str] = field(default_factory=set)
    announced_ms: int = 0

    @classmethod
    def from_config(cls, keys: Mapping[str, str]) -> KeyRing:
        """A ring of base64url public keys (agent.toml ``[commands] keys``); ValueError if bad."""
        ring = cls()
        for key_id, text in keys.items():
            raw = unb64url(text)
            Ed25519PublicKey.from_public_bytes(raw)  # ValueError unless 32 bytes
            ring.keys[key_id] = raw
        return ring

    def merge(self, saved: Mapping[str, Any]) -> None:
        """Add the persisted state (keys announced earlier, retirements) to this ring."""
        self.retired |= {str(k) for k in saved.get("retired", [])}
        for key_id, text in dict(saved.get("keys", {})).items():
            try:
                self.keys.setdefault(str(key_id), unb64url(str(text)))
            except ValueError:
                continue
        for key_id in self.retired:
            self.keys.pop(key_id, None)
        self.announced_ms = max(self.announced_ms, int(saved.get("announced_ms", 0)))

    def to_json(self) -> dict[str, Any]:
        """The persisted form (state_dir/cmdkeys.json)."""
        return {"keys": {k: b64url(v) for k, v in sorted(self.keys.items())},
                "retired": sorted(self.retired), "announced_ms": self.announced_ms}

    def ids(self) -> list[str]:
        """Ids of the trusted keys (for the birth's ``cmd_key_ids``)."""
        return sorted(self.keys)[:MAX_KEYS]

    def verify(self, key_id: str, sig: str, signed: bytes) -> bool:
        """True if ``sig`` by trusted key ``key_id`` verifies over ``signed``."""
        raw = self.keys.get(key_id)
        if raw is None:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(unb64url(sig), signed)
        except (InvalidSignature, ValueError):
            return False
        return True


def check_signature(ring: KeyRing, payload: Mapping[str, Any] | bytes,
                    key_id: str | None, sig: str | None) -> tuple[str, str] | None:
    """None if the command verifies, else (code, detail): unsigned/unknown_key/bad_signature.

    ``payload`` is the command as received (raw bytes or the decoded JSON object).
    """
    if not key_id or not sig:
        return "unsigned", "command carries no signature"
    if key_id not in ring.keys:
        return "unknown_key", f"key {key_id!r} is not trusted here"
    try:
        signed = signing_bytes(payload)
    except ValueError as exc:
        return "bad_signature", f"cannot canonicalise: {exc}"
    if not ring.verify(key_id, sig, signed):
        return "bad_signature", f"signature by {key_id!r} does not verify"
    return None


def apply_announcement(ring: KeyRing, ann: KeyAnnouncement) -> tuple[str, str]:
    """Verify a key announcement and add/retire keys; returns (code, detail), code "ok" if
    applied. Changes nothing unless it verifies and is newer than the last one applied."""
    if ann.sig is None:
        return "unsigned", "announcement carries no signature"
    if ann.signed_by not in ring.keys:
        return "unknown_key", f"announcement signed by untrusted key {ann.signed_by!r}"
    if not ring.verify(ann.signed_by, ann.sig, signing_bytes(ann)):
        return "bad_signature", "announcement signature does not verify"
    if ann.issued_at_ms <= ring.announced_ms:
        return "replayed", f"announcement of {ann.issued_at_ms} not newer than {ring.announced_ms}"
    if ann.key_id in ring.retired:
        return "retired_key", f"key {ann.key_id!r} was retired and is never trusted again"
    raw = unb64url(ann.public_key)
    if ann.key_id in ring.keys and ring.keys[ann.key_id] != raw:
        return "bad_params", f"key id {ann.key_id!r} already names another key"
    if ann.key_id not in ring.keys and len(ring.keys) >= MAX_KEYS:
        return "bad_params", f"already {MAX_KEYS} trusted keys"
    ring.keys[ann.key_id] = raw
    for old in ann.retire:
        ring.keys.pop(old, None)
        ring.retired.add(old)
    ring.announced_ms = ann.issued_at_ms
    return "ok", f"trusting {', '.join(ring.ids())}"
