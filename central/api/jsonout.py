"""Strict JSON at the API boundary: no NaN/Infinity ever reaches a browser or a client.

Every JSON body central sends (API, NOC, WebSocket, data embedded in pages) goes through
``dumps``: a non-finite float (from a row stored before the codec refused them, or computed
from one) becomes ``null`` (pydantic-core's ``inf_nan_mode="null"``, or ``sanitize``), and
json's encoder runs with ``allow_nan=False``, so nothing emits non-standard JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import pydantic_core
from aiohttp import web

MAX_DEPTH = 64  # sanitize cuts deeper structures (never recurse without a bound)


def sanitize(value: Any, depth: int = 0) -> Any:
    """A copy of value with every non-finite float replaced by None (tuples become lists)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= MAX_DEPTH:
        return None if isinstance(value, Mapping | list | tuple) else value
    if isinstance(value, Mapping):
        return {k: sanitize(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitize(v, depth + 1) for v in value]
    return value


#: The keyword arguments Jinja's ``tojson`` passes (templating.py): compact, as pydantic-core.
_COMPACT = {"separators": (",", ":"), "sort_keys": False}


def dumps(value: Any, **kw: Any) -> str:
    """Strict JSON of value: every non-finite float becomes null.

    Compact bodies (no options, or Jinja's) are encoded by pydantic-core, which writes a
    non-finite float as null itself (4x faster than json for a 2,000-node list; UTF-8 rather
    than \\u escapes). Other options go through json.dumps with allow_nan=False. A structure
    deeper than an encoder allows is copied through ``sanitize`` (cut at MAX_DEPTH)."""
    if not kw or kw == _COMPACT:
        try:
            return pydantic_core.to_json(value, inf_nan_mode="null").decode()
        except (ValueError, pydantic_core.PydanticSerializationError):
            pass  # nested too deep (or a type json.dumps decides about)
    try:
        return json.dumps(value, allow_nan=False, **kw)
    except (ValueError, RecursionError):
        return json.dumps(sanitize(value), allow_nan=False, **kw)


def json_response(data: Any, *, status: int = 200,
                  headers: Mapping[str, str] | None = None) -> web.Response:
    """web.json_response with strict, sanitised JSON."""
    return web.json_response(data, status=status, headers=headers, dumps=dumps)
