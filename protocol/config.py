"""What the agent's and central's config files share: strict sections, ids, one error type.

Wire models ignore unknown fields (forward compatible); config models forbid them, so a typo
fails at start with the key's name (DESIGN.md section 3). Both programs build their TOML
sections on ``Strict`` and report a config they cannot use with ``ConfigError``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from protocol.topics import is_valid_id

__all__ = ["ConfigError", "Strict", "valid_id"]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message is one line naming the key."""


class Strict(BaseModel):
    """Base of config sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def valid_id(value: str) -> str:
    """A node, site, uplink or upstream id as topics allow it (validator: ValueError otherwise)."""
    if not is_valid_id(value):
        raise ValueError("must be 1-64 of A-Z a-z 0-9 _ . - without '/', '+', '#'")
    return value
