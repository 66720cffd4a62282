"""Issue 14: one contract for command params, the union of central's and the agent's rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from protocol.params import (
    MAX_KBPS,
    MAX_LEASE_S,
    MAX_TIMEOUT_S,
    MIN_KBPS,
    Failover,
    ParamsError,
    SetThrottle,
    validate_params,
)

GOLDEN_CMD = Path(__file__).resolve().parents[2] / "docs" / "examples" / "cmd.json"


def _refused(kind: Any, params: Any) -> ParamsError:
    with pytest.raises(ParamsError) as info:
        validate_params(kind, params)
    return info.value


def test_the_golden_throttle_is_valid_and_typed() -> None:
    params = json.loads(GOLDEN_CMD.read_text())["params"]
    got = validate_params("set_throttle", params)
    assert isinstance(got, SetThrottle)
    assert (got.down_kbps, got.per_client_up_kbps, got.lease_s) == (20000, 256, 900.0)


def test_constants_match_the_old_rules() -> None:
    assert (MIN_KBPS, MAX_KBPS, MAX_LEASE_S, MAX_TIMEOUT_S) == (8, 10_000_000, 604_800, 604_800)


@pytest.mark.parametrize("value,ok", [
    (MIN_KBPS, True), (MAX_KBPS, True), (MIN_KBPS - 1, False), (MAX_KBPS + 1, False),
    (0, False), (-5, False), (100.0, False), (True, False), ("100", False),
])
def test_rates_are_integers_within_range(value: Any, ok: bool) -> None:
    for key in ("down_kbps", "up_kbps", "per_client_down_kbps", "per_client_up_kbps"):
        if ok:
            assert getattr(validate_params("set_throttle", {key: value}), key) == value
        else:
            err = _refused("set_throttle", {key: value})
            assert (err.code, err.field) == ("bad_params", key)
            assert key in err.detail


def test_throttle_needs_a_rate_and_per_client_not_above_total() -> None:
    assert "no rate given" in _refused("set_throttle", {"lease_s": 60}).detail
    assert "no rate given" in _refused("set_throttle", {"down_kbps": None}).detail
    err = _refused("set_throttle", {"down_kbps": 1000, "per_client_down_kbps": 2000})
    assert err.field == "per_client_down_kbps" and "exceeds down_kbps=1000" in err.detail
    assert validate_params("set_throttle", {"per_client_up_kbps": 2000}).up_kbps is None


@pytest.mark.parametrize("lease,ok", [
    (900, True), (0.5, True), (MAX_LEASE_S, True), (0, False), (-1, False),
    (MAX_LEASE_S + 1, False), (float("nan"), False), (float("inf"), False), (True, False),
    ("900", False),
])
def test_lease_is_a_finite_number_in_range(lease: Any, ok: bool) -> None:
    params = {"down_kbps": 1000, "lease_s": lease}
    if ok:
        assert validate_params("set_throttle", params).lease_s == float(lease)
    else:
        assert _refused("set_throttle", params).field == "lease_s"


@pytest.mark.parametrize("kind", ["set_throttle", "clear_throttle", "failover", "failback",
                                  "resync", "reboot"])
def test_unknown_keys_are_refused_for_every_kind(kind: str) -> None:
    err = _refused(kind, {"down_kbps": 1000, "bogus": 1, "also": 2} if kind == "set_throttle"
                   else {"bogus": 1, "also": 2})
    assert err.code == "bad_params" and err.detail == "unknown key(s): also, bogus"


@pytest.mark.parametrize("kind", ["clear_throttle", "resync", "reboot"])
def test_kinds_without_params_accept_empty_or_null(kind: str) -> None:
    validate_params(kind, {})
    validate_params(kind, None)


@pytest.mark.parametrize("params,field", [
    ({"target": "lte/1"}, "target"), ({"target": 5}, "target"), ({"target": ""}, "target"),
    ({"timeout_s": 0}, "timeout_s"), ({"timeout_s": -3}, "timeout_s"),
    ({"timeout_s": "60"}, "timeout_s"), ({"timeout_s": float("nan")}, "timeout_s"),
    ({"timeout_s": MAX_TIMEOUT_S + 1}, "timeout_s"), ({"timeout_s": True}, "timeout_s"),
])
def test_failover_params_union_of_central_and_agent(params: dict[str, Any], field: str) -> None:
    for kind in ("failover", "failback"):
        assert _refused(kind, params).field == field


def test_failover_params_valid() -> None:
    got = validate_params("failover", {"target": "lte", "timeout_s": 600})
    assert isinstance(got, Failover) and (got.target, got.timeout_s) == ("lte", 600.0)
    assert validate_params("failback", {}).target is None


def test_unknown_kind_and_non_object_params() -> None:
    assert _refused("launch_rocket", {}).code == "unknown_kind"
    assert _refused(None, {}).code == "unknown_kind"
    err = _refused("set_throttle", [1, 2])
    assert err.code == "bad_params" and "JSON object" in err.detail


def test_announce_key_carries_a_valid_announcement() -> None:
    ann = {"key_id": "k2", "public_key": "A" * 43, "issued_at_ms": 1, "signed_by": "k1",
           "sig": "B" * 86}
    assert validate_params("announce_key", {"announcement": ann}).announcement.key_id == "k2"
    assert _refused("announce_key", {"announcement": {**ann, "public_key": "A" * 44}}).field \
        == "announcement.public_key"
    assert "retire" in _refused("announce_key", {"announcement": {**ann, "retire": ["k1"]}}).detail
