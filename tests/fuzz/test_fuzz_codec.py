"""Fuzz the codec: for ANY topic and bytes, ``decode`` raises nothing but a CodecError, and a
message it accepts keeps every bound and survives re-encoding unchanged."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from protocol.codec import MAX_PAYLOAD_BYTES, CodecError, decode
from tests.fuzz import strategies as fst
from tests.fuzz.checks import check_model
from tests.fuzz.harness import Handler, fuzz_test


def _decode(case: fst.Case) -> tuple[Any, BaseModel]:
    return decode(fst.TOPICS, case.topic, case.payload)


def _check(case: fst.Case, result: tuple[Any, BaseModel]) -> None:
    _, msg = result
    check_model(msg)
    text = msg.model_dump_json(by_alias=True).encode()
    again = type(msg).__pydantic_validator__.validate_json(text, strict=True)
    assert again == msg, "re-encoding changed the message"
    if len(text) <= MAX_PAYLOAD_BYTES:
        assert _decode(fst.Case(case.topic, text))[1] == msg


HANDLER = Handler("codec.decode", _decode, refusals=(CodecError,), check=_check)

test_raw_bytes = fuzz_test(HANDLER, "raw_bytes", fst.raw_bytes)
test_json_trees = fuzz_test(HANDLER, "json_trees", fst.json_trees())
test_mutated_messages = fuzz_test(HANDLER, "mutated_messages", fst.mutated_messages())
