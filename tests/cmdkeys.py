"""A command-signing key for tests: central reads KEY_FILE, agents trust its public key."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from central.commands.signer import CommandSigner
from protocol.messages import Command
from protocol.signing import b64url
from provisioning.pki import write_secret

KEY = Ed25519PrivateKey.generate()
SIGNER = CommandSigner(KEY)
KEY_ID = SIGNER.key_id
_DIR = Path(tempfile.mkdtemp(prefix="kt-cmdkey-"))
atexit.register(shutil.rmtree, _DIR, True)
KEY_FILE = _DIR / "command.key"
write_secret(KEY_FILE, SIGNER.private_pem())


def agent_commands(signer: CommandSigner = SIGNER) -> dict[str, Any]:
    """The agent.toml ``[commands]`` section trusting ``signer``'s key."""
    return {"require_signed": True, "keys": {signer.key_id: b64url(signer.public_key)}}


def signed(body: dict[str, Any], signer: CommandSigner = SIGNER) -> Command:
    """A command from a JSON body, signed by ``signer``."""
    return signer.sign(Command.model_validate(body))
