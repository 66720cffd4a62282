"""Command, its ack and the signed key announcement (the wire side of command signing).

Central signs each command with Ed25519 (``key_id`` names the key, ``sig`` carries the
signature over ``protocol.signing.signing_bytes``); agents verify. The signing itself lives in
central/ and agent/ (the ``cryptography`` package); here are only the shapes and bounds.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from protocol.envelope import Envelope, Inbound
from protocol.limits import MAX_KEY_IDS, MAX_NAME_CHARS, Id, Name, NonNeg, Text, Tree, TsMs

CommandKind = Literal["set_throttle", "clear_throttle", "failover", "failback", "resync", "reboot"]
COMMAND_KINDS: tuple[str, ...] = (
    "set_throttle", "clear_throttle", "failover", "failback", "resync", "reboot",
)
#: The command kind that carries a KeyAnnouncement in ``params.announcement`` (not an operator
#: kind: central sends it itself, so it is not in COMMAND_KINDS).
KEY_COMMAND_KIND = "announce_key"

#: Ed25519 signature (64 bytes) as unpadded base64url: exactly 86 characters.
Signature = Annotated[str, Field(min_length=86, max_length=86, pattern=r"^[A-Za-z0-9_-]+$")]
#: Ed25519 public key (32 bytes, raw) as unpadded base64url: exactly 43 characters.
PublicKey = Annotated[str, Field(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]+$")]
KeyId = Id


class Command(Envelope):
    """Desired state sent by central to one node (signed when key_id and sig are set)."""

    KIND: ClassVar[str] = "cmd"
    cmd_id: Name
    kind: Name
    version: NonNeg
    epoch: NonNeg
    issued_at_ms: TsMs
    expires_at_ms: TsMs
    params: Tree = {}
    key_id: KeyId | None = None
    sig: Signature | None = None


AckStage = Literal["accepted", "applied", "rejected", "expired", "superseded"]


class CommandAck(Envelope):
    """The agent's answer to a command, one per stage."""

    KIND: ClassVar[str] = "ack"
    cmd_id: Name
    stage: AckStage
    code: Annotated[str, Field(max_length=MAX_NAME_CHARS)] = "ok"
    detail: Text = ""
    applied_version: NonNeg = 0


class KeyAnnouncement(Inbound):
    """A command-signing key announced by central, signed by a key the agent already trusts.

    The agent adds ``key_id`` alongside the keys it trusts and stops trusting those in
    ``retire``; it is carried in ``params.announcement`` of an ``announce_key`` command.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True, allow_inf_nan=False)
    schema_: Literal["kotanet.key/1"] = Field("kotanet.key/1", alias="schema")
    key_id: KeyId
    public_key: PublicKey
    retire: Annotated[list[KeyId], Field(max_length=MAX_KEY_IDS)] = []
    issued_at_ms: TsMs
    signed_by: KeyId
    sig: Signature | None = None

    @model_validator(mode="after")
    def _check_keys(self) -> KeyAnnouncement:
        if self.key_id in self.retire or self.signed_by in self.retire:
            raise ValueError("retire must name neither the announced key nor the signing key")
        return self
