"""Fuzz the params contract: ``validate_params`` raises nothing but a ParamsError for any kind
and any JSON params, and params it accepts keep every bound and re-validate unchanged."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from protocol.params import PARAMS_MODELS, CommandParams, ParamsError, validate_params
from tests.fuzz import strategies as fst
from tests.fuzz.checks import check_model
from tests.fuzz.harness import Handler, fuzz_test

ANNOUNCEMENT = {"schema": "kotanet.key/1", "key_id": "k2", "public_key": "A" * 43,
                "retire": [], "issued_at_ms": 1, "signed_by": "k1",
                "sig": "B" * 86}
VALID: dict[str, dict[str, Any]] = {
    "set_throttle": fst.golden("cmd")["params"], "clear_throttle": {}, "resync": {},
    "reboot": {}, "failover": {"target": "lte", "timeout_s": 600},
    "failback": {"timeout_s": 0.5}, "announce_key": {"announcement": ANNOUNCEMENT},
}
kinds = st.one_of(st.sampled_from(sorted(PARAMS_MODELS)), st.text(max_size=20))


@st.composite
def cases(draw: st.DrawFn) -> tuple[str, Any]:
    """A kind and params: a valid set with hostile changes, or any JSON-like value."""
    kind = draw(kinds)
    if draw(st.booleans()):
        return kind, fst.hostile_params(draw)
    params = dict(VALID.get(kind, {}))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.one_of(st.sampled_from([*params, "down_kbps", "target", "lease_s"]),
                             fst.keys))
        params[key] = draw(st.one_of(fst.hostile_numbers, fst.leaves, st.none()))
    return kind, params


def _validate(case: tuple[str, Any]) -> CommandParams:
    return validate_params(*case)


def _check(case: tuple[str, Any], result: CommandParams) -> None:
    check_model(result)
    again = validate_params(case[0], result.model_dump(mode="json", by_alias=True))
    assert again == result


HANDLER = Handler("params.validate_params", _validate, refusals=(ParamsError,), check=_check)

test_params = fuzz_test(HANDLER, "params", cases())
