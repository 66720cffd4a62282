"""Bytes <-> model for protocol v1, with a size limit and precise errors."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from protocol.messages import NODE_MODELS, CentralState, Envelope
from protocol.topics import CentralTopic, NodeTopic, TopicError, Topics

MAX_PAYLOAD_BYTES = 256 * 1024

M = TypeVar("M", bound=BaseModel)


class CodecError(ValueError):
    """A payload that cannot be accepted; ``reason`` is a short stable code for counters."""

    reason = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PayloadTooLarge(CodecError):
    """The payload exceeds MAX_PAYLOAD_BYTES."""

    reason = "too_large"


class MalformedPayload(CodecError):
    """Not UTF-8 JSON, or not a JSON object."""

    reason = "malformed"


class SchemaMismatch(CodecError):
    """The schema names another kind than the topic says."""

    reason = "wrong_schema"


class UnsupportedVersion(CodecError):
    """The schema is of this kind but another protocol version."""

    reason = "wrong_version"


class TopicMismatch(CodecError):
    """The topic is not a v1 topic, or site/node in the payload differ from the topic."""

    reason = "wrong_topic"


class InvalidMessage(CodecError):
    """Fields missing, of the wrong type, or out of range."""

    reason = "invalid"


def encode(msg: BaseModel) -> bytes:
    """Serialise a model to compact JSON bytes; raise PayloadTooLarge if over the limit."""
    data = msg.model_dump_json(by_alias=True, exclude_none=False).encode()
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload of {len(data)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    return data


def _load(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_BYTES}")
    try:
        obj = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(f"not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise MalformedPayload(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _check_schema(obj: dict[str, Any], expected: str) -> None:
    schema = obj.get("schema")
    if not isinstance(schema, str):
        raise SchemaMismatch(f"missing 'schema' (expected {expected!r})")
    if schema == expected:
        return
    kind, _, version = schema.rpartition("/")
    exp_kind, _, _ = expected.rpartition("/")
    if kind == exp_kind:
        raise UnsupportedVersion(f"schema {schema!r}: this build speaks {expected!r}")
    raise SchemaMismatch(f"schema {schema!r} does not match topic (expected {expected!r})")


def _validate(model: type[M], obj: dict[str, Any]) -> M:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(root)"
        raise InvalidMessage(
            f"{model.__name__}: {where}: {first['msg']} ({exc.error_count()} error(s))"
        ) from None


def decode_as(model: type[M], payload: bytes) -> M:
    """Decode a payload as the given model, checking size, JSON and schema."""
    obj = _load(payload)
    schema_name = getattr(model, "schema_name", None)
    if schema_name is not None:
        _check_schema(obj, schema_name())
    return _validate(model, obj)


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
