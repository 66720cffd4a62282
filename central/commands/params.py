"""Central-side validation of command kinds, params and lifetimes (before anything is sent)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocol.messages import COMMAND_KINDS
from protocol.topics import is_valid_id

MAX_KBPS = 10_000_000  # same bounds as the agent's shaping plan
MIN_KBPS = 8
MAX_LEASE_S = 7 * 24 * 3600
MIN_TTL_S, MAX_TTL_S, DEFAULT_TTL_S = 1.0, 3600.0, 60.0
RATE_KEYS = ("down_kbps", "up_kbps", "per_client_down_kbps", "per_client_up_kbps")
_ALLOWED: dict[str, frozenset[str]] = {
    "set_throttle": frozenset((*RATE_KEYS, "lease_s")),
    "clear_throttle": frozenset(),
    "failover": frozenset(("target", "timeout_s")),
    "failback": frozenset(("target", "timeout_s")),
    "resync": frozenset(),
    "reboot": frozenset(),
}


class BadCommand(ValueError):
    """A command central refuses to send; the message says what to fix."""


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _rate(params: Mapping[str, Any], key: str) -> int | None:
    val = params.get(key)
    if val is None:
        return None
    if isinstance(val, bool) or not isinstance(val, int):
        raise BadCommand(f"params.{key} must be an integer number of kbit/s, got {val!r}")
    if not MIN_KBPS <= val <= MAX_KBPS:
        raise BadCommand(f"params.{key}={val} is outside {MIN_KBPS}..{MAX_KBPS} kbit/s")
    return val


def _set_throttle(params: Mapping[str, Any]) -> None:
    rates = {k: _rate(params, k) for k in RATE_KEYS}
    if all(v is None for v in rates.values()):
        raise BadCommand("set_throttle needs at least one of " + ", ".join(RATE_KEYS))
    for total, per in (("down_kbps", "per_client_down_kbps"), ("up_kbps", "per_client_up_kbps")):
        t, p = rates[total], rates[per]
        if t is not None and p is not None and p > t:
            raise BadCommand(f"params.{per}={p} exceeds params.{total}={t}")
    lease = params.get("lease_s")
    if lease is not None and (not _number(lease) or not 0 < lease <= MAX_LEASE_S):
        raise BadCommand(f"params.lease_s must be a number in (0, {MAX_LEASE_S}], got {lease!r}")


def _failover(params: Mapping[str, Any]) -> None:
    target = params.get("target")
    if target is not None and (not isinstance(target, str) or not is_valid_id(target)):
        raise BadCommand(f"params.target must be an uplink name, got {target!r}")
    timeout = params.get("timeout_s")
    if timeout is not None and (not _number(timeout) or not 0 < timeout <= 7 * 24 * 3600):
        raise BadCommand(f"params.timeout_s must be a number of seconds > 0, got {timeout!r}")


def validate(kind: Any, params: Any, ttl_s: Any = None) -> tuple[str, dict[str, Any], float]:
    """Check kind, params and ttl_s; return them normalised or raise BadCommand."""
    if not isinstance(kind, str) or kind not in COMMAND_KINDS:
        raise BadCommand(f"kind must be one of {', '.join(COMMAND_KINDS)}, got {kind!r}")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise BadCommand(f"params must be a JSON object, got {type(params).__name__}")
    unknown = sorted(set(params) - _ALLOWED[kind])
    if unknown:
        allowed = ", ".join(sorted(_ALLOWED[kind])) or "none"
        raise BadCommand(f"{kind}: unknown params {', '.join(map(str, unknown))} "
                         f"(allowed: {allowed})")
    if kind == "set_throttle":
        _set_throttle(params)
    elif kind in ("failover", "failback"):
        _failover(params)
    ttl = DEFAULT_TTL_S if ttl_s is None else ttl_s
    if not _number(ttl) or not MIN_TTL_S <= ttl <= MAX_TTL_S:
        raise BadCommand(f"ttl_s must be a number in [{MIN_TTL_S:g}, {MAX_TTL_S:g}], "
                         f"got {ttl_s!r}")
    return kind, dict(params), float(ttl)
