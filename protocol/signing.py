"""The bytes central signs (Ed25519) for a command or a key announcement: one canonical form.

``signing_bytes(x)`` = ``SIGNING_CONTEXT`` + the canonical JSON of the message as sent, with
its ``sig`` field left out. Canonical JSON is RFC 8785 (JCS) except that integers are written
exactly (JCS would round those above 2**53): no whitespace, object keys sorted by UTF-16 code
units, strings with minimal escapes, non-integer numbers in the shortest round-trip form
(ECMAScript ``Number.prototype.toString``). So the bytes do not depend on key order, spacing,
or on ``900`` versus ``900.0``. The agent verifies over the payload as received (pass the raw
bytes), so fields it does not know yet are covered too. docs/protocol.md section 7.7.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import pydantic_core
from pydantic import BaseModel

SIGNING_CONTEXT = b"kotanet-sig/1\n"
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
SIG_FIELD = "sig"


def b64url(data: bytes) -> str:
    """Unpadded base64url text of bytes (signatures, public keys)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    """Bytes of unpadded base64url text; raise ValueError if it is not."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not base64url: {exc}") from None


def _number(x: float) -> str:
    """ECMAScript Number::toString of a finite double (RFC 8785 section 3.2.2.3)."""
    if not math.isfinite(x):
        raise ValueError("numbers must be finite")
    if x == 0:
        return "0"
    if x < 0:
        return "-" + _number(-x)
    mantissa, _, exp = repr(x).partition("e")
    whole, _, frac = mantissa.partition(".")
    all_digits = whole + frac
    digits = all_digits.lstrip("0")
    n = len(whole) - (len(all_digits) - len(digits)) + (int(exp) if exp else 0)
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return f"{digits[:n]}.{digits[n:]}"
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    head = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{head}e{sign}{abs(e)}"


def _canon(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, bool):
        out.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            out.append("," if i else "")
            _canon(item, out)
        out.append("]")
    elif isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ValueError("object keys must be strings")
        out.append("{")
        for i, key in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be"))):
            out.append(("," if i else "") + json.dumps(key, ensure_ascii=False) + ":")
            _canon(value[key], out)
        out.append("}")
    else:
        raise ValueError(f"{type(value).__name__} has no canonical JSON form")


def canonical_json(value: Any) -> bytes:
    """The canonical JSON bytes of a JSON value (see the module docstring)."""
    out: list[str] = []
    _canon(value, out)
    return "".join(out).encode("utf-8")


def signing_bytes(message: BaseModel | Mapping[str, Any] | bytes) -> bytes:
    """What is signed for a Command or KeyAnnouncement (a model, a JSON object or raw bytes)."""
    if isinstance(message, BaseModel):
        obj: Any = message.model_dump(mode="json", by_alias=True)
    elif isinstance(message, bytes | bytearray):
        obj = pydantic_core.from_json(bytes(message))
    else:
        obj = message
    if not isinstance(obj, Mapping):
        raise ValueError("only a JSON object can be signed")
    return SIGNING_CONTEXT + canonical_json({k: v for k, v in obj.items() if k != SIG_FIELD})
