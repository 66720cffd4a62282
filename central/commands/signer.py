"""Central's command-signing keys (Ed25519): sign commands and key announcements, verify the
signed commands nodes send back as evidence (docs/protocol.md section 7.7)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from protocol.commands import Command, KeyAnnouncement
from protocol.signing import b64url, key_id_of, signing_bytes, unb64url

log = logging.getLogger(__name__)


def public_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The raw 32 bytes of a key's public part."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def load_private(path: str | Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from a PEM (PKCS#8) file; ValueError if it is not one."""
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the command key: {exc.strerror}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


class CommandSigner:
    """The current signing key, an optional next key (announced, not yet used) and the ids of
    retired keys central asks nodes to drop."""

    def __init__(self, key: Ed25519PrivateKey, next_key: Ed25519PrivateKey | None = None,
                 retire: tuple[str, ...] = ()) -> None:
        self._key = key
        self._next = next_key
        self.public_key = public_raw(key)
        self.key_id = key_id_of(self.public_key)
        self.next_id = key_id_of(public_raw(next_key)) if next_key is not None else None
        self.retire = tuple(r for r in retire if r not in (self.key_id, self.next_id))
        self._verifiers = {self.key_id: key.public_key()}
        if next_key is not None and self.next_id is not None:
            self._verifiers[self.next_id] = next_key.public_key()

    @classmethod
    def from_files(cls, key_file: str | Path, next_key_file: str | Path | None = None,
                   retire: tuple[str, ...] = ()) -> CommandSigner:
        """Load the keys; log the ids (never the keys)."""
        signer = cls(load_private(key_file),
                     load_private(next_key_file) if next_key_file else None, retire)
        log.info("commands are signed with key %s (next %s, retiring %s)", signer.key_id,
                 signer.next_id or "none", ", ".join(signer.retire) or "none")
        return signer

    def private_pem(self) -> bytes:
        """The current private key as unencrypted PKCS#8 PEM (to write a key file)."""
        return self._key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())

    def sign(self, cmd: Command) -> Command:
        """The command with ``key_id`` and ``sig`` set (over everything as it will be sent)."""
        unsigned = cmd.model_copy(update={"key_id": self.key_id, "sig": None})
        sig = self._key.sign(signing_bytes(unsigned))
        return unsigned.model_copy(update={"sig": b64url(sig)})

    def announcement(self, now_ms: int) -> dict[str, Any] | None:
        """The signed announcement of the next key (or, without one, of the current key with
        the retired ids), signed by the current key; None if there is nothing to announce."""
        if self._next is None and not self.retire:
            return None
        announced = self._next or self._key
        ann = KeyAnnouncement.model_validate({
            "key_id": key_id_of(public_raw(announced)),
            "public_key": b64url(public_raw(announced)), "retire": list(self.retire),
            "issued_at_ms": now_ms, "signed_by": self.key_id})
        ann = ann.model_copy(update={"sig": b64url(self._key.sign(signing_bytes(ann)))})
        return ann.model_dump(mode="json", by_alias=True)

    def verify(self, obj: Mapping[str, Any]) -> bool:
        """True if a command object (as a node holds it) was signed by one of our keys."""
        key = self._verifiers.get(str(obj.get("key_id")))
        sig = obj.get("sig")
        if key is None or not isinstance(sig, str):
            return False
        try:
            key.verify(unb64url(sig), signing_bytes(obj))
        except (InvalidSignature, ValueError):
            return False
        return True
