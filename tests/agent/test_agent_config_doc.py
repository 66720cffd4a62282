"""docs/agent-config.md cannot drift from agent/config.py: every key of every section is listed
with its default, nothing stale is listed, and the complete example loads with the agent's own
loader (and names every key, set or commented)."""

from __future__ import annotations

import json
import re
import tomllib
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from agent.config import AgentConfig, load_config

DOC = Path(__file__).resolve().parents[2] / "docs" / "agent-config.md"
ROW = re.compile(r"^\| `([a-z_]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$")


def sections() -> dict[str, type[BaseModel]]:
    """'[mqtt]' / '[[uplinks]]' -> the pydantic model of that section."""
    out: dict[str, type[BaseModel]] = {}
    for name, field in AgentConfig.model_fields.items():
        ann = field.annotation
        if typing.get_origin(ann) is list:
            (item,) = typing.get_args(ann)
            out[f"[[{name}]]"] = item
        else:
            assert isinstance(ann, type) and issubclass(ann, BaseModel), name
            out[f"[{name}]"] = ann
    return out


def doc_tables(text: str) -> dict[str, dict[str, tuple[str, str, str]]]:
    """Section heading ('### `[mqtt]`') -> {key: (type, default, meaning)} of its table."""
    tables: dict[str, dict[str, tuple[str, str, str]]] = {}
    current: str | None = None
    for line in text.splitlines():
        head = re.match(r"^### `(\[\[?[a-z_]+\]\]?)`$", line)
        if head:
            current = head.group(1)
            tables[current] = {}
        elif line.startswith("## "):
            current = None
        elif current is not None and (row := ROW.match(line)):
            key, typ, default, meaning = (g.strip() for g in row.groups())
            assert key not in tables[current], f"{current} {key} listed twice"
            tables[current][key] = (typ, default, meaning)
    return tables


def documented_default(value: object) -> str:
    """How the doc writes a default: TOML in backticks, 'required' or 'not set'."""
    if value is PydanticUndefined:
        return "required"
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float | str | list):
        return f"`{json.dumps(value)}`"
    raise AssertionError(f"no doc form for default {value!r}")


def field_default(field: typing.Any) -> object:
    return field.default_factory() if field.default_factory is not None else field.default


def example_toml(text: str) -> str:
    part = text.split("## Complete example", 1)[1]
    match = re.search(r"```toml\n(.*?)```", part, re.S)
    assert match, "no ```toml block under 'Complete example'"
    return match.group(1)


def test_every_key_is_documented_with_its_default() -> None:
    tables = doc_tables(DOC.read_text())
    models = sections()
    assert set(tables) == set(models), "sections in the doc differ from agent/config.py"
    for section, model in models.items():
        rows = tables[section]
        assert set(rows) == set(model.model_fields), (
            f"{section}: missing {sorted(set(model.model_fields) - set(rows))}, "
            f"stale {sorted(set(rows) - set(model.model_fields))}")
        for key, field in model.model_fields.items():
            typ, default, meaning = rows[key]
            assert typ and meaning, f"{section} {key}: empty type or meaning"
            assert default == documented_default(field_default(field)), (
                f"{section} {key}: doc says default {default}, "
                f"code has {documented_default(field_default(field))}")


def test_complete_example_loads_and_names_every_key(tmp_path: Path) -> None:
    text = example_toml(DOC.read_text())
    path = tmp_path / "agent.toml"
    path.write_text(text)
    cfg = load_config(path)  # the agent's own strict loader
    assert cfg.node.id == "tks-01" and len(cfg.uplinks) == 2
    data = tomllib.loads(text)
    for section, model in sections().items():
        name = section.strip("[]")
        assert name in data, f"the example has no {section}"
        entries = data[name] if isinstance(data[name], list) else [data[name]]
        given = {k for e in entries for k in e}
        for key in set(model.model_fields) - given:
            assert re.search(rf"^# {key} = ", text, re.M), (
                f"the example neither sets nor shows (commented) {section} {key}")


@pytest.mark.parametrize("where", ["cli", "field-guide"])
def test_the_reference_is_pointed_to(where: str) -> None:
    from agent.cli import EPILOG, build_parser

    if where == "cli":
        assert "docs/agent-config.md" in EPILOG
        assert "docs/agent-config.md" in build_parser().format_help()
    else:
        guide = DOC.parent / "field-guide.md"
        assert "(agent-config.md)" in guide.read_text()
