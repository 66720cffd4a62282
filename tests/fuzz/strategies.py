"""Hypothesis strategies for hostile wire input: raw bytes, JSON trees, mutated valid messages.

JSON is written by ``dump`` (not json.dumps) so that a tree can hold what a hostile sender
writes but Python cannot: NaN/Infinity literals, 1e999, integers of thousands of digits, lone
surrogate escapes, nesting hundreds deep.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from protocol.messages import NODE_MODELS, CentralState
from protocol.topics import NODE_KINDS, Topics

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
TOPICS = Topics()
SITE, NODE, INSTANCE = "taman-kota", "tk-01", "central-a"
KINDS = [*NODE_KINDS, "central_state"]


@dataclass(frozen=True)
class Raw:
    """A literal written as is into the JSON text (hostile numbers)."""

    text: str


@dataclass(frozen=True)
class Case:
    """One input to the codec: an MQTT topic and a payload."""

    topic: str
    payload: bytes


HOSTILE_NUMBERS = [
    "NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1e-999", "9" * 4301, "-" + "9" * 5000,
    "9" * 400, "1" + "0" * 30, "9223372036854775808", "-9223372036854775809", "18446744073709551616",
    "4102444800001", "1e308", "2.5e-324", "-0", "-0.0", "1E400", "0.000001", "100.0000001",
    "1" + "0" * 5000 + ".5", "0." + "1" * 3000,
]
FIELD_NAMES = sorted({*(f.alias or n for m in (*NODE_MODELS.values(), CentralState)
                        for n, f in m.model_fields.items()),
                      "uplinks", "users", "system", "shaping", "probes", "data", "seq", "ts_ms",
                      "loss_pct", "cpu_pct", "temp_c", "rx_bps", "name", "status", "detail"})


def dump(value: Any) -> str:
    """JSON text of a tree that may hold Raw literals and non-finite floats."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{dump(str(k))}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value)  # NaN/Infinity for non-finite floats, \udXXX escapes stay


def deep(value: Any, depth: int, as_list: bool) -> Any:
    """value wrapped in ``depth`` lists or objects."""
    for _ in range(depth):
        value = [value] if as_list else {"d": value}
    return value


leaves = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(exclude_categories=()), max_size=40),
    st.integers(60, 5000).map(lambda n: "é" * n),
    st.sampled_from(HOSTILE_NUMBERS).map(Raw),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=20))
trees = st.recursive(
    leaves,
    lambda kids: st.one_of(st.lists(kids, max_size=6),
                           st.dictionaries(keys, kids, max_size=6)),
    max_leaves=30,
)
hostile_values = st.one_of(
    trees,
    st.tuples(leaves, st.integers(150, 260), st.booleans()).map(lambda t: deep(*t)),
)


def _topic(kind: str) -> str:
    if kind == "central_state":
        return TOPICS.central_state(INSTANCE)
    return TOPICS.node(SITE, NODE, kind)  # type: ignore[arg-type]


GOLDEN = {k: (EXAMPLES / f"{k}.json").read_text(encoding="utf-8") for k in KINDS}


def golden(kind: str) -> dict[str, Any]:
    """The golden example of a kind (docs/examples), a fresh copy."""
    obj: dict[str, Any] = json.loads(GOLDEN[kind])
    return obj


topics = st.one_of(
    st.sampled_from(KINDS).map(_topic),
    st.text(max_size=80),
    st.sampled_from(["kotanet/v1/node/a/b/tele", "kotanet/v1/node/+/#/tele", "kotanet/v1/central//state",
                     "kotanet/v1/node/taman-kota/tk-01/tele/x", "$SYS/x"]),
)

raw_bytes = st.builds(Case, topics, st.one_of(
    st.binary(max_size=4096),
    st.sampled_from(KINDS).map(lambda k: GOLDEN[k].encode()).flatmap(
        lambda b: st.integers(0, len(b)).map(lambda i: b[:i])),
))


@st.composite
def json_trees(draw: st.DrawFn) -> Case:
    """An arbitrary JSON tree, usually an object with a correct envelope for its topic."""
    kind = draw(st.sampled_from(KINDS))
    tree = draw(hostile_values)
    if draw(st.booleans()):
        env = {k: v for k, v in golden(kind).items() if k in ("schema", "site", "node", "ts_ms",
                                                                "instance")}
        extra = draw(st.dictionaries(keys, hostile_values, max_size=8))
        tree = {**env, **extra}
    return Case(_topic(kind), dump(tree).encode("utf-8", "surrogatepass"))


def _paths(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*path, i))
    return out


def _get(obj: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        obj = obj[p]
    return obj


hostile_numbers = st.one_of(st.sampled_from(HOSTILE_NUMBERS).map(Raw),
                            st.sampled_from([float("nan"), float("inf"), -float("inf")]),
                            st.integers(min_value=-(2**80), max_value=2**80), st.floats())
OPS = ["replace", "number", "number", "number", "free_form", "free_form", "delete", "add",
       "grow", "deep", "retype"]


def _mutate(draw: st.DrawFn, obj: Any) -> Any:
    paths = _paths(obj)
    op = draw(st.sampled_from(OPS))
    free = [p for p in paths if p and p[-1] in ("data", "params", "announcement")]
    if op == "free_form" and free:  # the free-form objects are where unbounded data could hide
        path = draw(st.sampled_from(free))
        op = "add"
    elif op == "number":
        numeric = [p for p in paths if isinstance(_get(obj, p), int | float)]
        path = draw(st.sampled_from(numeric or paths))
    else:
        path = draw(st.sampled_from(paths))
    target = _get(obj, path)
    if op == "number":
        new: Any = draw(hostile_numbers)
    elif op == "grow" and isinstance(target, list) and target:
        size = len(dump(target[0])) + 1
        n = draw(st.sampled_from([17, 65, 257, 1025, 5001, 8193]))
        new = target + [target[0]] * min(n, 300_000 // size)  # shared: dump() only reads
    elif op == "add" and isinstance(target, dict):
        new = {**target, draw(keys): draw(st.one_of(hostile_numbers, hostile_values))}
    elif op == "delete" and isinstance(target, dict) and target:
        victim = draw(st.sampled_from(sorted(target)))
        new = {k: v for k, v in target.items() if k != victim}
    elif op == "deep":
        depth = draw(st.one_of(st.integers(1, 12), st.integers(190, 210)))
        new = deep(target, depth, draw(st.booleans()))
    elif op == "retype":
        new = draw(st.sampled_from([str(target), [target], {"v": target}, True, 1.0, -1]))
    else:
        new = draw(hostile_values)
    if not path:
        return new
    _get(obj, path[:-1])[path[-1]] = new
    return obj


def mutate(draw: st.DrawFn, obj: Any) -> Any:
    """``obj`` (a JSON tree, changed in place) with one hostile mutation; the new root."""
    return _mutate(draw, obj)


@st.composite
def mutated_messages(draw: st.DrawFn) -> Case:
    """A valid golden message of any kind with 1-3 hostile mutations, then maybe byte damage."""
    kind = draw(st.sampled_from(KINDS))
    obj: Any = golden(kind)
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 3]))):
        obj = _mutate(draw, obj)
    payload = dump(obj).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 19)) == 0 and payload:
        i = draw(st.integers(0, len(payload) - 1))
        payload = payload[:i] + draw(st.binary(max_size=4)) + payload[i + draw(st.integers(0, 4)):]
    topic = _topic(kind) if draw(st.integers(0, 19)) else _topic(draw(st.sampled_from(KINDS)))
    return Case(topic, payload)


def hostile_params(draw: st.DrawFn) -> Any:
    """Any value a params object could be after JSON parsing (usually an object)."""
    if draw(st.integers(0, 9)) == 0:
        return draw(trees)
    return draw(st.dictionaries(keys, st.one_of(hostile_numbers, trees), max_size=6))
