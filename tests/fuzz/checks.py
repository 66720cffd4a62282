"""What must hold for every accepted message: each number finite and inside the bound its field
declares (and every numeric field declares both ends), each string and list bounded."""

from __future__ import annotations

import functools
import math
import types
import typing
from typing import Annotated, Any, Literal, NotRequired, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from typing_extensions import is_typeddict

from protocol import limits


def _constraints(meta: list[Any]) -> list[Any]:
    out: list[Any] = []
    for m in meta:
        out.extend(_constraints(list(m.metadata)) if isinstance(m, FieldInfo) else [m])
    return out


def alternatives(annotation: Any) -> list[tuple[Any, list[Any]]]:
    """(bare type, constraints) for each alternative of a possibly Optional/Annotated type."""
    origin = get_origin(annotation)
    if origin is NotRequired:  # a key of a wire TypedDict that may be left out
        return alternatives(get_args(annotation)[0])
    if origin is Annotated:
        base, *meta = get_args(annotation)
        return [(t, [*_constraints(meta), *c]) for t, c in alternatives(base)]
    if origin in (Union, types.UnionType):
        return [alt for arg in get_args(annotation) for alt in alternatives(arg)]
    return [(annotation, [])]


def _pick(value: Any, annotation: Any) -> tuple[Any, list[Any]]:
    """The alternative of ``annotation`` that ``value`` was validated as."""
    for tp, cons in alternatives(annotation):
        bare = get_origin(tp) or tp
        if is_typeddict(tp):
            if isinstance(value, dict):
                return tp, cons
            continue
        if bare is Literal or tp is Any or (isinstance(bare, type) and isinstance(value, bare)):
            return tp, cons
        if bare is float and isinstance(value, int):
            return tp, cons
    raise AssertionError(f"{value!r} matches no alternative of {annotation}")


def _number(value: float, cons: list[Any], where: str) -> None:
    assert math.isfinite(value), f"{where}: {value!r} is not finite"
    lows = [c for c in cons if isinstance(c, at.Ge | at.Gt)]
    highs = [c for c in cons if isinstance(c, at.Le | at.Lt)]
    assert lows and highs, f"{where}: numeric field without a lower and an upper bound"
    for c in lows:
        assert value >= c.ge if isinstance(c, at.Ge) else value > c.gt, f"{where}: {value} < {c}"
    for c in highs:
        assert value <= c.le if isinstance(c, at.Le) else value < c.lt, f"{where}: {value} > {c}"


def _sized(value: Any, tp: Any, cons: list[Any], where: str) -> None:
    if get_origin(tp) is Literal:
        assert value in get_args(tp), f"{where}: {value!r} not in {tp}"
        return
    limits = [c.max_length for c in cons if isinstance(c, at.MaxLen)]
    assert limits, f"{where}: {type(value).__name__} field without a maximum length"
    assert len(value) <= min(limits), f"{where}: length {len(value)} > {min(limits)}"


def check_value(value: Any, annotation: Any, cons: list[Any], where: str) -> None:
    """Assert ``value`` keeps every bound that ``annotation`` (plus ``cons``) declares."""
    if value is None or isinstance(value, bool):
        return
    tp, more = _pick(value, annotation)
    cons = [*cons, *more]
    if isinstance(value, BaseModel):
        check_model(value, where)
    elif is_typeddict(tp):
        check_record(value, tp, where)
    elif isinstance(value, int | float):
        _number(value, cons, where)
    elif isinstance(value, str):
        _sized(value, tp, cons, where)
    elif isinstance(value, dict):
        check_free_form(value, where)
    elif isinstance(value, list):
        _sized(value, tp, cons, where)
        (item,) = get_args(tp)
        for i, v in enumerate(value):
            check_value(v, item, [], f"{where}[{i}]")
    elif isinstance(value, tuple):
        for i, (v, a) in enumerate(zip(value, get_args(tp), strict=True)):
            check_value(v, a, [], f"{where}[{i}]")
    else:
        raise AssertionError(f"{where}: unexpected {type(value).__name__} in a wire model")


def check_free_form(value: Any, where: str, depth: int = 1) -> int:
    """Assert a free-form JSON value (Event.data, Command.params) keeps the tree bounds;
    returns how many values it holds. Written apart from protocol.limits.check_tree on purpose."""
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int):
        assert -(2**63) <= value < 2**63, f"{where}: {value} outside int64"
        return 1
    if isinstance(value, float):
        assert math.isfinite(value), f"{where}: {value!r} is not finite"
        return 1
    if isinstance(value, str):
        assert len(value) <= limits.MAX_TEXT_CHARS, f"{where}: string of {len(value)}"
        return 1
    assert depth <= limits.MAX_TREE_DEPTH, f"{where}: nested {depth} deep"
    if isinstance(value, dict):
        assert len(value) <= limits.MAX_TREE_KEYS, f"{where}: {len(value)} keys"
        assert all(isinstance(k, str) and len(k) <= limits.MAX_KEY_CHARS for k in value), where
        items = value.items()
    else:
        assert isinstance(value, list), f"{where}: {type(value).__name__} in free-form data"
        items = enumerate(value)  # type: ignore[assignment]
    total = 1 + sum(check_free_form(v, f"{where}.{k}", depth + 1) for k, v in items)
    assert depth > 1 or total <= limits.MAX_TREE_ITEMS, f"{where}: {total} values"
    return total


@functools.cache
def _hints(model: type[BaseModel]) -> dict[str, Any]:
    return typing.get_type_hints(model, include_extras=True)


def record_fields(td: Any) -> dict[str, tuple[Any, bool]]:
    """The keys of a wire TypedDict (UplinkSample, ProbeReport): annotation and required."""
    hints = typing.get_type_hints(td, include_extras=True)  # keeps NotRequired[...]
    return {k: (a, get_origin(a) is not NotRequired) for k, a in hints.items()}


def check_record(value: dict[str, Any], td: Any, where: str) -> None:
    """Assert a decoded wire TypedDict has every key (defaults filled) within its bounds."""
    fields = record_fields(td)
    assert set(value) == set(fields), f"{where}: keys {sorted(value)} are not {sorted(fields)}"
    for name, (annotation, _) in fields.items():
        check_value(value[name], annotation, [], f"{where}.{name}")


def check_model(msg: BaseModel, where: str = "") -> None:
    """Assert every field of a (decoded) wire model is within its declared bounds."""
    hints = _hints(type(msg))
    for name, info in type(msg).model_fields.items():
        annotation = hints.get(name, info.annotation)
        check_value(getattr(msg, name), annotation, list(info.metadata),
                    f"{where}.{name}" if where else f"{type(msg).__name__}.{name}")
