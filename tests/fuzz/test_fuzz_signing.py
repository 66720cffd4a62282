"""Fuzz the signing input: an agent computes ``signing_bytes`` of a payload BEFORE it knows the
payload is genuine, so for any bytes it raises nothing but a ValueError, and the bytes it
returns do not depend on key order or whitespace."""

from __future__ import annotations

import json

import pydantic_core

from protocol.signing import SIGNING_CONTEXT, canonical_json, signing_bytes
from tests.fuzz import strategies as fst
from tests.fuzz.harness import Handler, fuzz_test


def _sign_input(payload: bytes) -> bytes:
    return signing_bytes(payload)


def _reordered(value: object) -> object:
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


def _check(payload: bytes, result: bytes) -> None:
    assert result.startswith(SIGNING_CONTEXT)
    body = result[len(SIGNING_CONTEXT):]
    parsed = pydantic_core.from_json(body)
    assert canonical_json(parsed) == body, "canonical form is not a fixed point"
    assert "sig" not in parsed
    other = json.dumps(_reordered(pydantic_core.from_json(payload)), indent=2).encode()
    assert signing_bytes(other) == result, "key order or whitespace changed the signed bytes"


HANDLER = Handler("signing.signing_bytes", _sign_input, refusals=(ValueError,), check=_check)

test_raw_bytes = fuzz_test(HANDLER, "raw_bytes", fst.raw_bytes.map(lambda c: c.payload))
test_json_trees = fuzz_test(HANDLER, "json_trees", fst.json_trees().map(lambda c: c.payload))
test_mutated_messages = fuzz_test(HANDLER, "mutated_messages",
                                  fst.mutated_messages().map(lambda c: c.payload))
