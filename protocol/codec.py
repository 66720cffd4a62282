"""Bytes <-> model for protocol v1: a size limit, hostile-input hardening and precise errors.

``decode``/``decode_as`` raise nothing but a ``CodecError`` for any bytes: the JSON is parsed
and validated in one pass by pydantic-core (nesting and integer size limited by its parser,
numbers finite, every field bounded, see protocol/limits.py), strictly (a JSON number where a
number is due, never a string or a bool).
"""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic_core
from pydantic import BaseModel, ValidationError

from protocol.limits import MAX_PAYLOAD_BYTES
from protocol.messages import NODE_MODELS, CentralState, Envelope
from protocol.topics import CentralTopic, NodeTopic, TopicError, Topics

__all__ = [
    "MAX_PAYLOAD_BYTES", "CodecError", "PayloadTooLarge", "MalformedPayload", "SchemaMismatch",
    "UnsupportedVersion", "TopicMismatch", "InvalidMessage", "encode", "decode", "decode_as",
]

M = TypeVar("M", bound=BaseModel)
MAX_ERROR_CHARS = 300  # an error message quotes at most this much (it is logged and stored)


class CodecError(ValueError):
    """A payload that cannot be accepted; ``reason`` is a short stable code for counters."""

    reason = "invalid"

    def __init_subclass__(cls, reason: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.reason = reason or cls.reason

    def __init__(self, message: str) -> None:
        message = message if len(message) <= MAX_ERROR_CHARS else message[:MAX_ERROR_CHARS] + "..."
        super().__init__(message)
        self.message = message


class PayloadTooLarge(CodecError, reason="too_large"):
    """The payload exceeds MAX_PAYLOAD_BYTES."""


class MalformedPayload(CodecError, reason="malformed"):
    """Not UTF-8 JSON (or nested too deep, or an integer too long), or not a JSON object."""


class SchemaMismatch(CodecError, reason="wrong_schema"):
    """The schema is missing or names another kind than the topic says."""


class UnsupportedVersion(CodecError, reason="wrong_version"):
    """The schema is of this kind but another protocol version."""


class TopicMismatch(CodecError, reason="wrong_topic"):
    """The topic is not a v1 topic, or site/node in the payload differ from the topic."""


class InvalidMessage(CodecError, reason="invalid"):
    """Fields missing, of the wrong type, or out of range."""


def encode(msg: BaseModel) -> bytes:
    """Serialise a model to compact JSON bytes; raise PayloadTooLarge if over the limit."""
    data = msg.model_dump_json(by_alias=True, exclude_none=False).encode()
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return data


def _schema_error(obj: dict[str, Any], expected: str) -> CodecError | None:
    schema = obj.get("schema")
    if not isinstance(schema, str):
        return SchemaMismatch(f"missing 'schema' (expected {expected!r})")
    if schema == expected:
        return None
    kind, _, _ = schema.rpartition("/")
    if kind == expected.rpartition("/")[0]:
        return UnsupportedVersion(f"schema {schema!r}: this build speaks {expected!r}")
    return SchemaMismatch(f"schema {schema!r} does not match topic (expected {expected!r})")


def _refusal(model: type[BaseModel], payload: bytes, exc: ValidationError) -> CodecError:
    """The one error to report, in the documented order: JSON, object, schema, fields."""
    first = exc.errors(include_url=False, include_context=False, include_input=False)[0]
    if first["type"] == "json_invalid":
        return MalformedPayload(f"not UTF-8 JSON: {first['msg']}")
    try:  # the error path only: parse again to tell a schema problem from a field problem
        obj = pydantic_core.from_json(payload)
    except ValueError as err:
        return MalformedPayload(f"not UTF-8 JSON: {err}")
    if not isinstance(obj, dict):
        return MalformedPayload(f"expected a JSON object, got {type(obj).__name__}")
    schema_name = getattr(model, "schema_name", None)
    wrong = _schema_error(obj, schema_name()) if schema_name is not None else None
    if wrong is not None:
        return wrong
    where = ".".join(str(p) for p in first["loc"]) or "(root)"
    return InvalidMessage(
        f"{model.__name__}: {where}: {first['msg']} ({exc.error_count()} error(s))")


def decode_as(model: type[M], payload: bytes) -> M:
    """Decode a payload as the given model, checking size, JSON, schema and every bound."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        msg = model.__pydantic_validator__.validate_json(payload, strict=True)
    except ValidationError as exc:
        raise _refusal(model, payload, exc) from None
    schema_name = getattr(model, "schema_name", None)
    if schema_name is not None and "schema_" not in msg.model_fields_set:
        raise SchemaMismatch(f"missing 'schema' (expected {schema_name()!r})")
    return msg  # type: ignore[no-any-return]


def decode(topics: Topics, topic: str, payload: bytes) -> tuple[NodeTopic | CentralTopic, BaseModel]:
    """Decode a message from its topic: the model follows the topic, site/node must match it."""
    try:
        parsed = topics.parse(topic)
    except TopicError as exc:
        raise TopicMismatch(str(exc)) from None
    if isinstance(parsed, CentralTopic):
        state = decode_as(CentralState, payload)
        if state.instance != parsed.instance:
            raise TopicMismatch(f"instance {state.instance!r} differs from topic {topic!r}")
        return parsed, state
    model: type[Envelope] = NODE_MODELS[parsed.kind]
    msg = decode_as(model, payload)
    if msg.site != parsed.site or msg.node != parsed.node:
        raise TopicMismatch(
            f"payload site/node {msg.site}/{msg.node} differ from topic {parsed.site}/{parsed.node}"
        )
    return parsed, msg
