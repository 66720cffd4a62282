"""Command trust on the agent: the signature check before the gate, the key ring (config keys
plus announced ones, persisted in ``cmdkeys.json``) and the epoch proof (``epoch_proof.json``:
the signed command that set the highest epoch, sent in the birth so central can verify it)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pydantic_core

from agent.config import CommandsSection
from agent.policy.signature import KeyRing, apply_announcement, check_signature
from agent.transport.statefile import read_json, write_json
from protocol.messages import Command
from protocol.params import AnnounceKey, ParamsError, validate_params

log = logging.getLogger(__name__)

KEYS_FILE = "cmdkeys.json"
PROOF_FILE = "epoch_proof.json"


def payload_of(cmd: Command, raw: bytes | None) -> dict[str, Any]:
    """The command as received: the raw JSON object if given, else the model's JSON form."""
    if raw is not None:
        obj = pydantic_core.from_json(raw)
        if isinstance(obj, dict):
            return obj
    return cmd.model_dump(mode="json", by_alias=True)


class CommandTrust:
    """Verifies commands before the gate, keeps the key ring and the epoch proof on disk."""

    def __init__(self, cfg: CommandsSection, state_dir: Path) -> None:
        self.require_signed = cfg.require_signed
        self._keys_path = state_dir / KEYS_FILE
        self._proof_path = state_dir / PROOF_FILE
        self.ring = KeyRing.from_config(cfg.keys or {})
        self.ring.merge(read_json(self._keys_path) or {})
        saved = read_json(self._proof_path)
        self.proof: dict[str, Any] | None = saved if isinstance(saved, dict) else None
        if self.require_signed and not self.ring.keys:
            log.error("commands must be signed but no command key is configured ([commands] "
                      "keys in agent.toml): every command will be rejected")

    def check(self, payload: dict[str, Any], cmd: Command) -> tuple[str, str] | None:
        """None if the command may go on to the gate, else (code, detail) to reject it."""
        if not self.require_signed and cmd.sig is None:
            return None  # explicitly configured: old bundles, simulated nodes
        return check_signature(self.ring, payload, cmd.key_id, cmd.sig)

    def accepted(self, payload: dict[str, Any], cmd: Command) -> None:
        """Keep a signed accepted command as the epoch proof if its epoch is the highest."""
        if cmd.sig is None:
            return
        if self.proof is not None and int(self.proof.get("epoch", 0)) > cmd.epoch:
            return
        self.proof = payload
        write_json(self._proof_path, payload)

    def announce(self, cmd: Command) -> tuple[str, str, str]:
        """Handle an ``announce_key`` command: (stage, code, detail)."""
        try:
            params = validate_params(cmd.kind, cmd.params)
        except ParamsError as exc:
            return "rejected", "bad_params", str(exc)
        assert isinstance(params, AnnounceKey)
        code, detail = apply_announcement(self.ring, params.announcement)
        if code != "ok":
            log.warning("key announcement %s refused: %s %s", cmd.cmd_id, code, detail)
            return "rejected", code, detail
        write_json(self._keys_path, self.ring.to_json())
        log.info("key announcement %s applied: %s", cmd.cmd_id, detail)
        return "applied", "ok", detail
