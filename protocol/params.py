"""One contract for command params (issue 14): central checks before sending, agents on receipt.

``validate_params(kind, params)`` returns the typed params or raises ``ParamsError`` whose
``code`` is the ack code (``bad_params``, or ``unknown_kind``) and whose ``detail`` names the
field. The rules are the union of what central (command_params.py) and the agent
(policy/shaping.py, the failover handler) checked before; docs/protocol.md section 7.2.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError, model_validator

from protocol.commands import KEY_COMMAND_KIND, KeyAnnouncement
from protocol.limits import MAX_KBPS, Id

__all__ = [
    "MIN_KBPS", "MAX_KBPS", "MAX_LEASE_S", "MAX_TIMEOUT_S", "RATE_KEYS", "ParamsError",
    "CommandParams", "SetThrottle", "ClearThrottle", "Failover", "Failback", "Resync", "Reboot",
    "AnnounceKey", "PARAMS_MODELS", "validate_params",
]

MIN_KBPS = 8  # HTB needs a positive rate; below this TCP cannot work at all
MAX_LEASE_S = 7 * 24 * 3600
MAX_TIMEOUT_S = 7 * 24 * 3600
RATE_KEYS = ("down_kbps", "up_kbps", "per_client_down_kbps", "per_client_up_kbps")

#: A rate: a JSON integer (not a float, not a bool) of kbit/s.
KbpsParam = Annotated[int, Strict(), Field(ge=MIN_KBPS, le=MAX_KBPS)]
LeaseS = Annotated[float, Strict(), Field(gt=0, le=MAX_LEASE_S)]
TimeoutS = Annotated[float, Strict(), Field(gt=0, le=MAX_TIMEOUT_S)]


class ParamsError(ValueError):
    """Params a command may not carry; ``code`` is the ack code, ``detail`` names the field."""

    def __init__(self, detail: str, code: str = "bad_params", field: str | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.field = field


class CommandParams(BaseModel):
    """Base of every kind's params: unknown keys are refused, numbers finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class SetThrottle(CommandParams):
    """Throttle the node: at least one rate; a per-client rate never above its total."""

    down_kbps: KbpsParam | None = None
    up_kbps: KbpsParam | None = None
    per_client_down_kbps: KbpsParam | None = None
    per_client_up_kbps: KbpsParam | None = None
    lease_s: LeaseS | None = None

    @model_validator(mode="after")
    def _check_rates(self) -> SetThrottle:
        if all(getattr(self, k) is None for k in RATE_KEYS):
            raise ValueError("no rate given (need at least one of " + ", ".join(RATE_KEYS) + ")")
        for total_key, pc_key in (("down_kbps", "per_client_down_kbps"),
                                  ("up_kbps", "per_client_up_kbps")):
            total, pc = getattr(self, total_key), getattr(self, pc_key)
            if total is not None and pc is not None and pc > total:
                raise ValueError(f"{pc_key}={pc} exceeds {total_key}={total}")
        return self


class ClearThrottle(CommandParams):
    """Back to the safe default shaping: no params."""


class Failover(CommandParams):
    """Manual switch to ``target`` (an uplink name) or the best backup, for ``timeout_s``."""

    target: Id | None = None
    timeout_s: TimeoutS | None = None


class Failback(Failover):
    """Manual switch back to the primary (or ``target``), for ``timeout_s``."""


class Resync(CommandParams):
    """Send a fresh birth and re-send the outbox: no params."""


class Reboot(CommandParams):
    """Reboot the node: no params."""


class AnnounceKey(CommandParams):
    """Trust a new command-signing key: the signed announcement (docs/protocol.md 7.7)."""

    announcement: KeyAnnouncement


PARAMS_MODELS: dict[str, type[CommandParams]] = {
    "set_throttle": SetThrottle, "clear_throttle": ClearThrottle, "failover": Failover,
    "failback": Failback, "resync": Resync, "reboot": Reboot, KEY_COMMAND_KIND: AnnounceKey,
}


def _error(exc: ValidationError) -> ParamsError:
    errors = exc.errors(include_url=False, include_context=False)
    unknown = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden")
    if unknown:
        return ParamsError(f"unknown key(s): {', '.join(unknown)}", field=unknown[0])
    first = errors[0]
    field = ".".join(str(p) for p in first["loc"]) or None
    msg = str(first["msg"]).removeprefix("Value error, ")
    if field is None:  # a rule across fields: its message starts with the field it blames
        return ParamsError(msg, field=next((k for k in RATE_KEYS if msg.startswith(k + "=")),
                                           None))
    got = repr(first.get("input"))
    return ParamsError(f"{field}: {msg} (got {got[:60]})", field=field)


def validate_params(kind: str, params: Mapping[str, Any] | None) -> CommandParams:
    """Check one command's params against its kind; raise ParamsError naming the problem."""
    model = PARAMS_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(PARAMS_MODELS)
        raise ParamsError(f"unknown command kind {str(kind)[:64]!r} (known: {known})",
                          code="unknown_kind")
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ParamsError(f"params must be a JSON object, got {type(params).__name__}")
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        raise _error(exc) from None
