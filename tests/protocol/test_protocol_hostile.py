"""Issue 12: what a stolen node can send is refused with a counted CodecError, never anything
else; honest extremes and unknown fields still pass."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from protocol import limits
from protocol.codec import CodecError, decode
from protocol.messages import Tele
from protocol.topics import Topics

T = Topics()
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def _golden(kind: str) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads((EXAMPLES / f"{kind}.json").read_text(encoding="utf-8"))
    return obj


def _topic(kind: str) -> str:
    return T.node("taman-kota", "tk-01", kind)  # type: ignore[arg-type]


def _reason(kind: str, payload: bytes | str) -> str:
    raw = payload.encode() if isinstance(payload, str) else payload
    with pytest.raises(CodecError) as info:
        decode(T, _topic(kind), raw)
    assert len(info.value.message) <= 303, "an error message must stay short (it is logged)"
    return info.value.reason


def _with(kind: str, raw_literal: str, **path: Any) -> str:
    """The golden message with one value replaced by a raw JSON literal."""
    obj = _golden(kind)
    marker = "@@HOSTILE@@"
    target = obj
    *parents, last = path["at"]
    for p in parents:
        target = target[p]
    target[last] = marker
    return json.dumps(obj).replace(f'"{marker}"', raw_literal)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
@pytest.mark.parametrize("at", [
    ("samples", 0, "system", "temp_c"), ("samples", 0, "uplinks", 0, "rtt_ms"),
    ("events", 0, "data", "switch_ms"), ("samples", 0, "probes", 0, "duration_ms"),
])
def test_non_finite_numbers_are_refused_everywhere(literal: str, at: tuple[Any, ...]) -> None:
    assert _reason("tele", _with("tele", literal, at=at)) == "invalid"


def test_non_finite_command_params_are_refused() -> None:
    payload = _with("cmd", "NaN", at=("params", "lease_s"))
    assert _reason("cmd", payload) == "invalid"


def test_deep_nesting_is_malformed_not_a_recursion_error() -> None:
    for depth in (300, 100_000):
        deep = "[" * depth + "]" * depth
        assert _reason("tele", _with("tele", deep, at=("future",))) == "malformed"
        assert _reason("tele", deep) == "malformed"


def test_unknown_fields_nested_within_the_limit_are_still_ignored() -> None:
    depth = limits.MAX_JSON_DEPTH - 1  # plus the top-level object: MAX_JSON_DEPTH levels
    for inner in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        _, msg = decode(T, _topic("tele"), _with("tele", inner, at=("future",)).encode())
        assert msg == decode(T, _topic("tele"), (EXAMPLES / "tele.json").read_bytes())[1]


@pytest.mark.parametrize("digits", [limits.MAX_INT_DIGITS + 1, 5_000, 200_000])
def test_integers_of_thousands_of_digits_are_malformed(digits: int) -> None:
    assert _reason("tele", _with("tele", "9" * digits, at=("seq",))) == "malformed"
    assert _reason("tele", _with("tele", "9" * digits, at=("future",))) == "malformed"


@pytest.mark.parametrize("literal,at", [
    ("9" * 40, ("seq",)),                                   # fits the parser, not 64 bits
    (str(2**63), ("events", 0, "data", "count")),           # free-form ints are 64-bit too
    (str(limits.MAX_TS_MS + 1), ("ts_ms",)),                 # after 2100
    (str(limits.MAX_TS_MS + 1), ("samples", 0, "ts_ms")),
    ("100.01", ("samples", 0, "system", "cpu_pct")),
    ("-100.5", ("samples", 0, "system", "temp_c")),
    ("200.5", ("samples", 0, "system", "temp_c")),
    ("600001", ("samples", 0, "uplinks", 0, "rtt_ms")),
    ("1e13", ("samples", 0, "uplinks", 0, "rx_bps")),
    (str(2**53), ("samples", 0, "uplinks", 0, "rx_errors")),
    ("1000001", ("samples", 0, "users", "total")),
    ("3155760001", ("samples", 0, "system", "uptime_s")),
    ("100001", ("samples", 0, "system", "load1")),
    ("10000001", ("samples", 0, "shaping", "down_kbps")),
    ("3600001", ("samples", 0, "probes", 0, "duration_ms")),
])
def test_numbers_beyond_their_bound_are_invalid(literal: str, at: tuple[Any, ...]) -> None:
    assert _reason("tele", _with("tele", literal, at=at)) == "invalid"


@pytest.mark.parametrize("literal,at", [
    ('"42"', ("seq",)), ("true", ("session",)), ("42.0", ("seq",)), ('"1e3"', ("samples", 0,
                                                                             "users", "total")),
    ('"nan"', ("samples", 0, "system", "cpu_pct")), ("false", ("samples", 0, "system", "temp_c")),
])
def test_numbers_must_be_json_numbers(literal: str, at: tuple[Any, ...]) -> None:
    assert _reason("tele", _with("tele", literal, at=at)) == "invalid"


@pytest.mark.parametrize("kind,at,chars", [
    ("tele", ("events", 0, "message"), limits.MAX_TEXT_CHARS + 1),
    ("tele", ("samples", 0, "probes", 0, "detail"), limits.MAX_TEXT_CHARS + 1),
    ("tele", ("events", 0, "data", "detail"), limits.MAX_TEXT_CHARS + 1),
    ("tele", ("events", 0, "kind"), limits.MAX_NAME_CHARS + 1),
    ("ack", ("detail",), limits.MAX_TEXT_CHARS + 1),
    ("ack", ("code",), limits.MAX_NAME_CHARS + 1),
    ("birth", ("boot_id",), limits.MAX_NAME_CHARS + 1),
    ("birth", ("agent_version",), limits.MAX_NAME_CHARS + 1),
    ("birth", ("config_hash",), limits.MAX_HASH_CHARS + 1),
    ("birth", ("uplinks", 0, "iface"), limits.MAX_IFACE_CHARS + 1),
    ("cmd", ("cmd_id",), limits.MAX_NAME_CHARS + 1),
])
def test_strings_are_bounded(kind: str, at: tuple[Any, ...], chars: int) -> None:
    assert _reason(kind, _with(kind, json.dumps("é" * chars), at=at)) == "invalid"
    _, msg = decode(T, _topic(kind), _with(kind, json.dumps("é" * (chars - 1)), at=at).encode())
    assert msg is not None  # the bound itself is accepted


def test_lists_are_bounded() -> None:
    tele = _golden("tele")
    sample = tele["samples"][0]
    sample["uplinks"] = sample["uplinks"] * 9  # 18 > MAX_UPLINKS
    assert _reason("tele", json.dumps(tele)) == "invalid"
    tele = _golden("tele")
    tele["dropped"] = [[1, 2, "age"]] * (limits.MAX_DROPPED + 1)
    assert _reason("tele", json.dumps(tele)) == "invalid"
    seq = tele["seq"]
    small = {**_golden("tele"), "dropped": [], "events": [],
             "samples": [{"seq": seq + i, "ts_ms": 1} for i in range(limits.MAX_RECORDS + 1)]}
    assert _reason("tele", json.dumps(small, separators=(",", ":"))) == "invalid"
    rx = {**_golden("rx"), "acked": [[i, i] for i in range(limits.MAX_ACKED + 1)]}
    assert _reason("rx", json.dumps(rx, separators=(",", ":"))) == "invalid"


def _event_data(data: Any) -> str:
    tele = _golden("tele")
    tele["events"][0]["data"] = data
    return json.dumps(tele, separators=(",", ":"))


def test_event_data_is_bounded_in_depth_keys_and_size() -> None:
    def nest(depth: int) -> Any:  # `depth` objects, the data object itself included
        out: Any = 1
        for _ in range(depth):
            out = {"x": out}
        return out

    decode(T, _topic("tele"), _event_data(nest(limits.MAX_TREE_DEPTH)).encode())
    assert _reason("tele", _event_data(nest(limits.MAX_TREE_DEPTH + 1))) == "invalid"
    assert _reason("tele", _event_data({f"k{i}": i for i in range(257)})) == "invalid"
    assert _reason("tele", _event_data({"k" * 129: 1})) == "invalid"
    assert _reason("tele", _event_data({"v": [0] * limits.MAX_TREE_ITEMS})) == "invalid"


def test_a_batch_at_every_bound_is_accepted() -> None:
    """Honest extremes pass: the bounds are limits, not typical values."""
    tele = _golden("tele")
    s = tele["samples"][0]
    s["system"].update(cpu_pct=100, temp_c=limits.MAX_TEMP_C, uptime_s=limits.MAX_UPTIME_S)
    s["uplinks"][0].update(rtt_ms=limits.MAX_MS, rx_bps=limits.MAX_BPS, rx_errors=2**53 - 1)
    s["users"]["total"] = limits.MAX_USERS
    tele["ts_ms"] = limits.MAX_TS_MS
    tele["events"][0]["data"] = {"evidence": {"fiber": {"rounds": [{"rtt_ms": 1.5}] * 100}}}
    _, msg = decode(T, _topic("tele"), json.dumps(tele).encode())
    assert isinstance(msg, Tele) and msg.samples[0].system.temp_c == limits.MAX_TEMP_C


def test_invalid_utf8_and_lone_surrogates_are_malformed() -> None:
    raw = (EXAMPLES / "state.json").read_bytes()
    assert _reason("state", raw.replace(b"tk-01", b"tk-\xff1", 1)) == "malformed"
    assert _reason("tele", _with("tele", '"\\ud800"', at=("events", 0, "message"))) == "malformed"
