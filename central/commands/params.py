"""Central-side validation of command kinds, params and lifetimes (before anything is sent).

The params rules are the protocol's one contract (``protocol/params.py``), which the agent
applies again on receipt; here they become HTTP 400 messages that name the field, plus the
message lifetime (``ttl_s``) that only central sets.
"""

from __future__ import annotations

from typing import Any

from protocol.messages import COMMAND_KINDS
from protocol.params import (
    MAX_KBPS,
    MAX_LEASE_S,
    MIN_KBPS,
    PARAMS_MODELS,
    ParamsError,
    validate_params,
)

__all__ = ["MAX_KBPS", "MAX_LEASE_S", "MIN_KBPS", "MIN_TTL_S", "MAX_TTL_S", "DEFAULT_TTL_S",
           "BadCommand", "validate"]

MIN_TTL_S, MAX_TTL_S, DEFAULT_TTL_S = 1.0, 3600.0, 60.0


class BadCommand(ValueError):
    """A command central refuses to send; the message says what to fix."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _params(kind: str, params: dict[str, Any]) -> None:
    """The protocol's params contract, its refusal worded for an API caller."""
    try:
        validate_params(kind, params)
    except ParamsError as exc:
        if exc.detail.startswith("unknown key(s)"):
            unknown = sorted(set(map(str, params)) - set(PARAMS_MODELS[kind].model_fields))
            allowed = ", ".join(sorted(PARAMS_MODELS[kind].model_fields)) or "none"
            raise BadCommand(f"{kind}: unknown params {', '.join(unknown)} "
                             f"(allowed: {allowed})") from None
        where = "params." if exc.field else f"{kind}: "
        raise BadCommand(f"{where}{exc.detail}") from None


def validate(kind: Any, params: Any, ttl_s: Any = None) -> tuple[str, dict[str, Any], float]:
    """Check kind, params and ttl_s; return them normalised or raise BadCommand."""
    if not isinstance(kind, str) or kind not in COMMAND_KINDS:
        raise BadCommand(f"kind must be one of {', '.join(COMMAND_KINDS)}, got {kind!r}")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise BadCommand(f"params must be a JSON object, got {type(params).__name__}")
    _params(kind, params)
    ttl = DEFAULT_TTL_S if ttl_s is None else ttl_s
    if not _number(ttl) or not MIN_TTL_S <= ttl <= MAX_TTL_S:
        raise BadCommand(f"ttl_s must be a number in [{MIN_TTL_S:g}, {MAX_TTL_S:g}], "
                         f"got {ttl_s!r}")
    return kind, dict(params), float(ttl)
