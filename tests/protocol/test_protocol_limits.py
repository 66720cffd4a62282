"""Every bound is in docs/protocol.md 3.1 with its value, and every field of every wire model
has one: numbers both ends, strings and lists a maximum length (issue 12)."""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import annotated_types as at
import pytest
from pydantic import BaseModel
from typing_extensions import is_typeddict

from protocol import limits, params
from protocol.commands import KeyAnnouncement
from protocol.messages import NODE_MODELS, CentralState
from tests.fuzz.checks import alternatives, record_fields

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
TABLE_RE = re.compile(r"<!-- limits -->\n(?P<table>(?:\|.*\n)+)")
MODELS: list[type[BaseModel]] = [*NODE_MODELS.values(), CentralState, KeyAnnouncement,
                                 *params.PARAMS_MODELS.values()]


def _doc_limits() -> dict[str, Any]:
    m = TABLE_RE.search(DOC.read_text(encoding="utf-8"))
    assert m, "docs/protocol.md lost its '<!-- limits -->' table"
    rows = [r.split("|")[1:-1] for r in m["table"].splitlines()[2:]]
    return {r[0].strip().strip("`"): ast.literal_eval(r[1].strip()) for r in rows}


def test_doc_limits_table_equals_the_constants() -> None:
    documented = _doc_limits()
    constants = {k: v for k, v in vars(limits).items() if k.isupper() and k.startswith(("MAX_", "MIN_"))}
    constants |= {k: getattr(params, k) for k in ("MIN_KBPS", "MAX_LEASE_S", "MAX_TIMEOUT_S")}
    assert set(documented) == set(constants), "every bound in protocol/limits.py has a row"
    for name, value in constants.items():
        assert documented[name] == value, f"{name}: doc says {documented[name]}, code {value}"
    assert params.MAX_KBPS == limits.MAX_KBPS


def _problems(annotation: Any, cons: list[Any], where: str, seen: set[type]) -> list[str]:
    out: list[str] = []
    for tp, more in alternatives(annotation):
        c = [*cons, *more]
        bare = get_origin(tp) or tp
        if tp is type(None) or tp is bool or bare is Literal:
            continue
        if (isinstance(tp, type) and issubclass(tp, BaseModel)) or is_typeddict(tp):
            out += _model_problems(tp, seen)
        elif tp in (int, float):
            if not any(isinstance(x, at.Ge | at.Gt) for x in c) or \
                    not any(isinstance(x, at.Le | at.Lt) for x in c):
                out.append(f"{where}: a number without both bounds")
        elif tp is str or bare in (list, dict):
            if bare is not dict and not any(isinstance(x, at.MaxLen) for x in c):
                out.append(f"{where}: {bare.__name__} without a maximum length")
            if bare is list:
                out += _problems(get_args(tp)[0], [], f"{where}[]", seen)
            if bare is dict:  # free-form: bounded by limits.check_tree
                assert any(getattr(x, "func", None) is limits.check_tree for x in c), where
        elif bare is tuple:
            for i, arg in enumerate(get_args(tp)):
                out += _problems(arg, [], f"{where}[{i}]", seen)
        else:
            out.append(f"{where}: unexpected type {tp}")
    return out


def _model_problems(model: Any, seen: set[type]) -> list[str]:
    if model in seen:
        return []
    seen.add(model)
    out: list[str] = []
    if is_typeddict(model):  # UplinkSample, ProbeReport: bounds in the annotations
        for name, (annotation, _) in record_fields(model).items():
            out += _problems(annotation, [], f"{model.__name__}.{name}", seen)
        return out
    hints = typing.get_type_hints(model, include_extras=True)
    for name, info in model.model_fields.items():
        out += _problems(hints[name], list(info.metadata), f"{model.__name__}.{name}", seen)
    return out


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_is_bounded(model: type[BaseModel]) -> None:
    assert _model_problems(model, set()) == []


def test_the_checker_finds_an_unbounded_field() -> None:
    class Loose(BaseModel):
        n: int
        s: str = ""

    assert len(_model_problems(Loose, set())) == 2
