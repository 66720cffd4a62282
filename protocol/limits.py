"""Every bound of protocol v1 in one place: constants, bounded field types, free-form JSON checks.

A node is untrusted (it hangs in a public park), so every value it sends is finite and bounded.
The bounds sit well above what an honest agent sends; docs/protocol.md section 3.1 lists them.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, Field

# ---------------------------------------------------------------- whole payload
MAX_PAYLOAD_BYTES = 256 * 1024
#: Nesting limit of the JSON parser (pydantic-core): deeper documents are ``malformed``.
MAX_JSON_DEPTH = 200
#: Longest integer literal the JSON parser reads (digits); longer ones are ``malformed``.
MAX_INT_DIGITS = 4300

# ---------------------------------------------------------------- numbers
MAX_INT64 = 2**63 - 1  # fits SQLite INTEGER and PostgreSQL bigint
MAX_SAFE_INT = 2**53 - 1  # exact in a browser (JavaScript number)
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z; 0 is allowed (a Pi without NTP)
MAX_PRIORITY = 65_535
MAX_MS = 600_000.0  # rtt, jitter: ten minutes
MAX_DURATION_MS = 3_600_000.0  # one probe run: an hour
MAX_BPS = 1e12  # 1 Tbit/s, a hundred times a 10 Gbit/s port
MAX_USERS = 1_000_000
MIN_TEMP_C, MAX_TEMP_C = -100.0, 200.0
MAX_UPTIME_S = 3_155_760_000  # a hundred years
MAX_LOAD = 100_000.0
MAX_KBPS = 10_000_000  # 10 Gbit/s: the largest throttle (issue 14, protocol/params.py)

# ---------------------------------------------------------------- strings
MAX_ID_CHARS = 64
MAX_NAME_CHARS = 64  # boot_id, agent_version, cmd_id, event kind, ack code, key_id
MAX_IFACE_CHARS = 32  # Linux allows 15
MAX_HASH_CHARS = 128  # config_hash ("sha256:" + 64 hex digits fits)
MAX_PROBE_NAME_CHARS = 128  # "link:" + an uplink id
MAX_TEXT_CHARS = 2048  # Event.message, CommandAck.detail, ProbeReport.detail

# ---------------------------------------------------------------- lists
MAX_UPLINKS = 16
MAX_PROBES = 64
MAX_RECORDS = 5_000  # samples + events of one tele (the agent's batch_max_records <= 5000)
MAX_DROPPED = 1_024
MAX_ACKED = 8_192
MAX_KEY_IDS = 16

# ---------------------------------------------------------------- free-form objects
MAX_TREE_DEPTH = 10  # Event.data / Command.params: containers nested at most this deep
MAX_TREE_ITEMS = 20_000  # values (containers included) in one free-form object
MAX_TREE_KEYS = 256  # keys of one object inside it
MAX_KEY_CHARS = 128

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
B64URL_PATTERN = r"^[A-Za-z0-9_-]*$"

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
NonNeg = Annotated[int, Field(ge=0, le=MAX_INT64)]
Seq = Annotated[int, Field(ge=0, le=MAX_INT64)]
TsMs = Annotated[int, Field(ge=0, le=MAX_TS_MS)]
Pct = Annotated[float, Field(ge=0, le=100)]
Ms = Annotated[float, Field(ge=0, le=MAX_MS)]
Bps = Annotated[float, Field(ge=0, le=MAX_BPS)]
Packets = Annotated[int, Field(ge=0, le=MAX_SAFE_INT)]
UserCount = Annotated[int, Field(ge=0, le=MAX_USERS)]
Kbps = Annotated[int, Field(ge=0, le=MAX_KBPS)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)]
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]


class TreeError(ValueError):
    """A free-form object (Event.data, Command.params) breaks a bound."""


def _where(path: tuple[str | int, ...]) -> str:
    out = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return out or "(top)"


def _leaf(value: Any, path: tuple[str | int, ...]) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if not -MAX_INT64 - 1 <= value <= MAX_INT64:
            raise TreeError(f"{_where(path)}: integer outside the signed 64-bit range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise TreeError(f"{_where(path)}: numbers must be finite (no NaN or Infinity)")
    elif isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise TreeError(f"{_where(path)}: string longer than {MAX_TEXT_CHARS} characters")
    else:
        raise TreeError(f"{_where(path)}: {type(value).__name__} is not a JSON value")


def check_tree(value: dict[str, Any]) -> dict[str, Any]:
    """Check a free-form JSON object against the MAX_TREE_* bounds; return it unchanged."""
    items = 1
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict | list | tuple):
            items += len(node)
            if items > MAX_TREE_ITEMS:
                raise TreeError(f"more than {MAX_TREE_ITEMS} values")
            if len(path) >= MAX_TREE_DEPTH:
                raise TreeError(f"{_where(path)}: nested deeper than {MAX_TREE_DEPTH}")
        if isinstance(node, dict):
            if len(node) > MAX_TREE_KEYS:
                raise TreeError(f"{_where(path)}: more than {MAX_TREE_KEYS} keys")
            for key, child in node.items():
                if not isinstance(key, str) or len(key) > MAX_KEY_CHARS:
                    raise TreeError(f"{_where(path)}: a key is not a string of at most "
                                    f"{MAX_KEY_CHARS} characters")
                stack.append((child, (*path, key)))
        elif isinstance(node, list | tuple):
            stack.extend((child, (*path, i)) for i, child in enumerate(node))
        else:
            _leaf(node, path)
    return value


Tree = Annotated[dict[str, Any], AfterValidator(check_tree)]
