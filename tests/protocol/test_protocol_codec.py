"""Codec: every kind round-trips; every bad payload fails with its stable reason code."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel

from protocol.codec import (
    MAX_PAYLOAD_BYTES,
    CodecError,
    InvalidMessage,
    MalformedPayload,
    PayloadTooLarge,
    SchemaMismatch,
    TopicMismatch,
    UnsupportedVersion,
    decode,
    decode_as,
    encode,
)
from protocol.messages import (
    Birth,
    CentralState,
    ClockInfo,
    Command,
    CommandAck,
    DeliveryReceipt,
    Event,
    NodeState,
    Sample,
    Shaping,
    Tele,
    UplinkSample,
)
from protocol.topics import Topics

T = Topics()
SITE, NODE = "taman-kota", "tk-01"
ENV: dict[str, Any] = {"site": SITE, "node": NODE, "ts_ms": 1_764_331_200_000}


def _messages() -> dict[str, BaseModel]:
    """One fully populated model per kind."""
    return {
        "birth": Birth(**ENV, session=3, boot_id="b1", agent_version="0.1.0",
                       config_hash="sha256:ab", role="office", throttle_version=2,
                       clock=ClockInfo(synced=False, wall_ms=0)),
        "tele": Tele(**ENV, session=3, seq=100, historical=True,
                     samples=[Sample(ts_ms=1, uplinks=[UplinkSample(name="fiber", up=True,
                                                                    loss_pct=2.5)],
                                     shaping=Shaping(version=2, down_kbps=1000))],
                     events=[Event(ts_ms=2, kind="failover", data={"to": "lte"})],
                     dropped=[(10, 20, "overflow")]),
        "state": NodeState(**ENV, online=False, session=3),
        "cmd": Command(**ENV, cmd_id="c1", kind="set_throttle", version=9, epoch=4,
                       issued_at_ms=1, expires_at_ms=60_001, params={"down_kbps": 5000}),
        "ack": CommandAck(**ENV, cmd_id="c1", stage="rejected", code="stale_epoch",
                          detail="epoch 3 < 4", applied_version=8),
        "rx": DeliveryReceipt(**ENV, session=3, acked=[(100, 101), (105, 105)]),
    }


def _topic(kind: str) -> str:
    return T.central_state("central-a") if kind == "central_state" else T.node(SITE, NODE, kind)  # type: ignore[arg-type]


def _tele_obj(**changes: Any) -> dict[str, Any]:
    obj = json.loads(encode(_messages()["tele"]))
    obj.update(changes)
    return obj


def _raises(reason: str, cls: type[CodecError], topic: str, payload: bytes) -> CodecError:
    with pytest.raises(cls) as info:
        decode(T, topic, payload)
    assert info.value.reason == reason
    assert isinstance(info.value, ValueError)
    return info.value


@pytest.mark.parametrize("kind", ["birth", "tele", "state", "cmd", "ack", "rx"])
def test_node_kinds_round_trip(kind: str) -> None:
    msg = _messages()[kind]
    parsed, back = decode(T, _topic(kind), encode(msg))
    assert type(back) is type(msg)
    assert back == msg
    assert (parsed.site, parsed.node, parsed.kind) == (SITE, NODE, kind)  # type: ignore[union-attr]
    assert json.loads(encode(msg))["schema"] == f"kotanet.{kind}/1"


def test_central_state_round_trip() -> None:
    msg = CentralState.model_validate({"instance": "central-a", "online": True, "epoch": 5, "ts_ms": 7})
    parsed, back = decode(T, _topic("central_state"), encode(msg))
    assert back == msg and parsed.instance == "central-a"  # type: ignore[union-attr]
    assert json.loads(encode(msg))["schema"] == "kotanet.central_state/1"


@pytest.mark.parametrize("payload", [b"\xff\xfe\x00", b"{not json", b"", b'{"schema": '])
def test_garbage_bytes_are_malformed(payload: bytes) -> None:
    _raises("malformed", MalformedPayload, _topic("tele"), payload)


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"tele"', b"42", b"null", b"true"])
def test_non_object_json_is_malformed(payload: bytes) -> None:
    err = _raises("malformed", MalformedPayload, _topic("tele"), payload)
    assert "JSON object" in str(err)


def test_other_kind_on_topic_is_wrong_schema() -> None:
    birth = encode(_messages()["birth"])
    _raises("wrong_schema", SchemaMismatch, _topic("tele"), birth)
    no_schema = _tele_obj()
    del no_schema["schema"]
    _raises("wrong_schema", SchemaMismatch, _topic("tele"), json.dumps(no_schema).encode())


def test_other_version_is_wrong_version() -> None:
    payload = json.dumps(_tele_obj(schema="kotanet.tele/2")).encode()
    err = _raises("wrong_version", UnsupportedVersion, _topic("tele"), payload)
    assert "kotanet.tele/2" in str(err)
    central = {"schema": "kotanet.central_state/2", "instance": "central-a", "online": True,
               "ts_ms": 1}
    _raises("wrong_version", UnsupportedVersion, _topic("central_state"),
            json.dumps(central).encode())


@pytest.mark.parametrize("field,value", [("node", "tk-02"), ("site", "kantor-bupati")])
def test_payload_ids_must_match_topic(field: str, value: str) -> None:
    payload = json.dumps(_tele_obj(**{field: value})).encode()
    _raises("wrong_topic", TopicMismatch, _topic("tele"), payload)


def test_central_instance_must_match_topic() -> None:
    msg = CentralState.model_validate({"instance": "central-b", "online": True, "ts_ms": 1})
    _raises("wrong_topic", TopicMismatch, _topic("central_state"), encode(msg))


@pytest.mark.parametrize("topic", [
    "kotanet/v2/node/taman-kota/tk-01/tele",
    "kotanet/v1/node/taman-kota/tk-01/telemetry",
    "kotanet/v1/node/taman-kota/tk-01/tele/extra",
    "kotanet/v1/node/taman-kota/+/tele",
    "kotanet/v1/central/central-a/birth",
    "other/v1/node/taman-kota/tk-01/tele",
])
def test_non_v1_topic_is_wrong_topic(topic: str) -> None:
    _raises("wrong_topic", TopicMismatch, topic, encode(_messages()["tele"]))


def test_oversized_payload_is_too_large_both_ways() -> None:
    big = _tele_obj()
    big["events"][0]["message"] = "x" * MAX_PAYLOAD_BYTES
    _raises("too_large", PayloadTooLarge, _topic("tele"), json.dumps(big).encode())
    # every field within its bound, the batch as a whole too large (encode refuses it)
    events = [Event(seq=100 + i, ts_ms=1, kind="k", message="y" * 2000) for i in range(200)]
    huge = _messages()["tele"].model_copy(update={"samples": [], "events": events})
    with pytest.raises(PayloadTooLarge):
        encode(huge)


def test_payload_of_exactly_the_limit_is_accepted() -> None:
    raw = encode(_messages()["tele"])
    padded = raw + b" " * (MAX_PAYLOAD_BYTES - len(raw))
    assert len(padded) == MAX_PAYLOAD_BYTES
    decode(T, _topic("tele"), padded)
    _raises("too_large", PayloadTooLarge, _topic("tele"), padded + b" ")


@pytest.mark.parametrize("changes,where", [
    ({"seq": -1}, "seq"),
    ({"seq": 2**63}, "seq"),
    ({"session": -5}, "session"),
    ({"ts_ms": "yesterday"}, "ts_ms"),
    ({"samples": [{"ts_ms": 1, "uplinks": [{"name": "fiber", "loss_pct": 101}]}]}, "loss_pct"),
    ({"samples": [{"ts_ms": 1, "system": {"cpu_pct": -0.1}}]}, "cpu_pct"),
    ({"dropped": [[5, 6, "because"]]}, "dropped"),
    ({"node": "tk/01"}, "node"),
])
def test_out_of_range_fields_are_invalid(changes: dict[str, Any], where: str) -> None:
    obj = _tele_obj(**changes)
    if "samples" in changes:
        obj["seq"], obj["events"] = changes["samples"][0].get("seq", obj["seq"]), []
    with pytest.raises(InvalidMessage) as info:
        decode_as(Tele, json.dumps(obj).encode())
    assert info.value.reason == "invalid"
    assert where in str(info.value)


def test_missing_required_field_names_it() -> None:
    obj = json.loads(encode(_messages()["cmd"]))
    del obj["expires_at_ms"]
    with pytest.raises(InvalidMessage, match="expires_at_ms"):
        decode(T, _topic("cmd"), json.dumps(obj).encode())


def test_unknown_fields_are_ignored() -> None:
    obj = _tele_obj(future_top={"a": 1}, priority="high")
    obj["samples"][0]["future_radio"] = {"channel": 6}
    obj["samples"][0]["uplinks"][0]["signal_dbm"] = -71
    obj["events"][0]["future"] = True
    _, msg = decode(T, _topic("tele"), json.dumps(obj).encode())
    assert msg == _messages()["tele"]
    again = json.loads(encode(msg))
    assert "future_top" not in again and "future_radio" not in again["samples"][0]


def test_uplink_and_probe_records_decode_as_complete_dicts() -> None:
    """The hot-path records are TypedDicts: every key present, defaults filled in."""
    obj = _tele_obj()
    obj["samples"][0]["uplinks"] = [{"name": "lte", "signal_dbm": -71}]
    obj["samples"][0]["probes"] = [{"name": "users", "status": "ok"}]
    _, msg = decode(T, _topic("tele"), json.dumps(obj).encode())
    assert isinstance(msg, Tele)
    assert msg.samples[0].uplinks == [{
        "name": "lte", "up": None, "active": False, "rtt_ms": None, "loss_pct": None,
        "jitter_ms": None, "rx_bps": None, "tx_bps": None, "rx_errors": None, "tx_errors": None,
        "rx_dropped": None, "tx_dropped": None}]
    assert msg.samples[0].probes == [
        {"name": "users", "status": "ok", "duration_ms": 0.0, "detail": ""}]


@pytest.mark.parametrize("record,field,value", [
    ("uplinks", "rtt_ms", "15.0"), ("uplinks", "rx_errors", True), ("uplinks", "up", 1),
    ("uplinks", "rx_errors", 1.5), ("uplinks", "name", "-x"), ("probes", "duration_ms", "1"),
    ("probes", "status", "fine"), ("probes", "detail", 5),
])
def test_uplink_and_probe_records_are_strict(record: str, field: str, value: Any) -> None:
    obj = _tele_obj()
    base = {"name": "fiber"} if record == "uplinks" else {"name": "users", "status": "ok"}
    obj["samples"][0][record] = [{**base, field: value}]
    with pytest.raises(InvalidMessage, match=field):
        decode(T, _topic("tele"), json.dumps(obj).encode())


def test_unknown_command_kind_still_decodes_for_the_agent_gate() -> None:
    obj = json.loads(encode(_messages()["cmd"]))
    obj["kind"] = "launch_rocket"
    _, msg = decode(T, _topic("cmd"), json.dumps(obj).encode())
    assert isinstance(msg, Command) and msg.kind == "launch_rocket"


def test_every_error_class_has_a_distinct_reason() -> None:
    classes = [PayloadTooLarge, MalformedPayload, SchemaMismatch, UnsupportedVersion,
               TopicMismatch, InvalidMessage]
    reasons = [c.reason for c in classes]
    assert reasons == ["too_large", "malformed", "wrong_schema", "wrong_version", "wrong_topic",
                       "invalid"]
    assert all(issubclass(c, CodecError) for c in classes)
