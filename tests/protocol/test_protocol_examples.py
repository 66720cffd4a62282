"""docs/protocol.md cannot drift: golden examples decode, equal the doc, and tables list every field."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel
from typing_extensions import is_typeddict

import protocol.messages as messages
from protocol import codec
from protocol.codec import CodecError, decode, encode
from protocol.messages import COMMAND_KINDS, NODE_MODELS, Envelope
from protocol.topics import NODE_KINDS, Topics
from tests.fuzz.checks import record_fields

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol.md"
EXAMPLES = ROOT / "docs" / "examples"
KINDS = [*NODE_KINDS, "central_state"]
T = Topics()

EXAMPLE_RE = re.compile(r"<!-- example: (?P<file>[\w.]+) -->\n```json\n(?P<body>.*?)\n```", re.S)
FIELDS_RE = re.compile(r"<!-- fields: (?P<model>\w+) -->\n(?P<table>(?:\|.*\n)+)")


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _topic(kind: str, obj: dict[str, object]) -> str:
    if kind == "central_state":
        return T.central_state(str(obj["instance"]))
    return T.node(str(obj["site"]), str(obj["node"]), kind)  # type: ignore[arg-type]


def _missing_keys(full: object, shown: object, path: str = "") -> list[str]:
    """Keys present in the canonical encoding but absent from the golden example."""
    if isinstance(full, dict) and isinstance(shown, dict):
        out = [f"{path}{k}" for k in full if k not in shown]
        for k in full.keys() & shown.keys():
            out += _missing_keys(full[k], shown[k], f"{path}{k}.")
        return out
    if isinstance(full, list) and isinstance(shown, list):
        return [m for a, b in zip(full, shown, strict=False) for m in _missing_keys(a, b, path)]
    return []


def _tables() -> dict[str, dict[str, str]]:
    """{model: {field: Req. column}} from the doc's field tables."""
    out: dict[str, dict[str, str]] = {}
    for m in FIELDS_RE.finditer(_doc()):
        rows = [re.split(r"(?<!\\)\|", r)[1:-1] for r in m["table"].splitlines()[2:]]
        out[m["model"]] = {r[0].strip().strip("`"): r[3].strip() for r in rows}
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_golden_file_decodes_and_is_complete(kind: str) -> None:
    raw = (EXAMPLES / f"{kind}.json").read_bytes()
    obj = json.loads(raw)
    parsed, msg = decode(T, _topic(kind, obj), raw)
    canonical = json.loads(encode(msg))
    missing = _missing_keys(canonical, obj)
    assert not missing, f"docs/examples/{kind}.json (and its copy in protocol.md) lacks {missing}"
    assert canonical == obj, f"docs/examples/{kind}.json must equal its re-encoding"
    assert obj["schema"] == f"kotanet.{kind}/1"


def test_tele_example_shows_samples_events_and_drops() -> None:
    obj = json.loads((EXAMPLES / "tele.json").read_text())
    assert obj["samples"] and obj["events"] and obj["dropped"]
    cmd = json.loads((EXAMPLES / "cmd.json").read_text())
    assert cmd["kind"] == "set_throttle"


def test_doc_examples_are_exactly_the_golden_files() -> None:
    found = {m["file"]: m["body"] for m in EXAMPLE_RE.finditer(_doc())}
    files = {p.name for p in EXAMPLES.glob("*.json")}
    assert set(found) == files == {f"{k}.json" for k in KINDS}
    for name, body in found.items():
        assert body == (EXAMPLES / name).read_text(encoding="utf-8").rstrip("\n"), name


def _field_names(model: Any) -> dict[str, bool]:
    if is_typeddict(model):  # the hot-path records (UplinkSample, ProbeReport)
        return {n: required for n, (_, required) in record_fields(model).items()}
    return {(f.alias or n): f.is_required() for n, f in model.model_fields.items()}


def _annotations(model: Any) -> list[object]:
    if is_typeddict(model):
        return [a for a, _ in record_fields(model).values()]
    return [f.annotation for f in model.model_fields.values()]


def _models_in(tp: object) -> Iterator[Any]:
    if (isinstance(tp, type) and issubclass(tp, BaseModel)) or is_typeddict(tp):
        yield tp
    for arg in get_args(tp):
        yield from _models_in(arg)


def wire_models() -> dict[str, Any]:
    """Every model (or wire TypedDict) that can appear on the wire, nested ones included."""
    todo: list[Any] = [*NODE_MODELS.values(), messages.CentralState,
                       messages.KeyAnnouncement]  # in announce_key params
    seen: dict[str, Any] = {}
    while todo:
        model = todo.pop()
        if model.__name__ not in seen:
            seen[model.__name__] = model
            for annotation in _annotations(model):
                todo += list(_models_in(annotation))
    return seen


def test_every_wire_model_has_a_field_table() -> None:
    missing = sorted(set(wire_models()) - set(_tables()))
    assert not missing, f"add '<!-- fields: NAME -->' tables to docs/protocol.md for {missing}"


@pytest.mark.parametrize("name", sorted(wire_models()))
def test_field_table_lists_exactly_the_model_fields(name: str) -> None:
    model = wire_models()[name]
    tables = _tables()
    assert name in tables, f"docs/protocol.md has no '<!-- fields: {name} -->' table"
    documented = dict(tables[name])
    if isinstance(model, type) and issubclass(model, Envelope):
        documented.update(tables["Envelope"])
    expected = _field_names(model)
    undocumented = sorted(set(expected) - set(documented))
    assert not undocumented, (f"{name} fields {undocumented} are missing from the table after "
                              f"'<!-- fields: {name} -->' in docs/protocol.md: add a row each")
    stale = sorted(set(documented) - set(expected))
    assert not stale, f"docs/protocol.md documents {stale} which {name} does not have"
    for field, required in expected.items():
        if field == "schema":  # defaults in Python; required on the wire (test_protocol_codec)
            continue
        assert documented[field] == ("yes" if required else "no"), f"{name}.{field} Req."


def test_doc_names_limits_reasons_and_command_kinds() -> None:
    doc = _doc()
    assert f"{codec.MAX_PAYLOAD_BYTES}" in doc
    reasons = {c.reason for c in vars(codec).values()
               if isinstance(c, type) and issubclass(c, CodecError) and c is not CodecError}
    for reason in reasons:
        assert f"| `{reason}` |" in doc, reason
    for kind in COMMAND_KINDS:
        assert f"| `{kind}` |" in doc, kind
    for code in ("wrong_node", "stale_epoch", "unknown_kind", "bad_params", "unsupported"):
        assert f"`{code}`" in doc, code


def test_doc_topic_table_matches_topics_module() -> None:
    doc = _doc()
    for kind in NODE_KINDS:
        topic = T.node("SITE", "NODE", kind).replace("SITE", "{site}").replace("NODE", "{node}")
        assert f"| `{topic}` |" in doc, kind
    assert f"| `{T.central_state('INST').replace('INST', '{instance}')}` |" in doc


def test_doc_acl_is_the_generated_acl() -> None:
    from provisioning.mosquitto import acl_file

    doc_lines = {" ".join(line.split()) for line in _doc().splitlines()}
    acl = acl_file(nodes={"{node}": ("{site}", "{node}")})
    rules = [" ".join(line.split()) for line in acl.splitlines()
             if line.startswith(("topic ", "user "))]
    assert rules, "acl_file() produced no rules"
    for rule in rules:
        assert rule in doc_lines, f"ACL rule {rule!r} is not shown in docs/protocol.md 2.2"
