"""Fuzz central's collector message handler: for ANY topic and bytes, decoding and storing one
message never raises (a refusal is one counted rejection), and what it accepts is bounded,
stored, and read back as strict JSON."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.api.jsonout import dumps
from central.collector.ingest import Ingest
from central.collector.isolate import accept_one, write_isolated
from central.collector.stats import Stats
from central.config import CentralConfig
from central.storage.base import Incoming
from central.storage.sqlite import SqliteStorage
from tests.fuzz import strategies as fst
from tests.fuzz.checks import check_model
from tests.fuzz.harness import Handler, fuzz_test

STATS = Stats(log_interval_s=3600)
INGEST = Ingest(CentralConfig(), STATS)
_TMP = tempfile.TemporaryDirectory(prefix="kotanet-fuzz-collector-")
STORAGE = SqliteStorage(Path(_TMP.name) / "central.db")


@pytest.fixture(scope="module", autouse=True)
def _close_storage() -> Iterator[None]:
    yield
    STORAGE.close()  # type: ignore[attr-defined]
    _TMP.cleanup()


def _counted() -> int:
    snap = STATS.snapshot()
    return sum(snap["rejects"].values()) + sum(snap["messages"].values())


def _handle(case: fst.Case) -> tuple[Incoming | None, int, list[Incoming]]:
    """What the writer thread does with one message: accept, then store in isolation."""
    before = _counted()
    inc = accept_one(INGEST, case.topic, case.payload, received_ms=1)
    stored = write_isolated(STORAGE, [inc], STATS) if inc is not None else []
    return inc, _counted() - before, stored


def _strict(value: Any) -> None:
    json.loads(dumps(value), parse_constant=lambda name: pytest.fail(f"{name} in JSON"))


def _check(case: fst.Case, result: tuple[Incoming | None, int, list[Incoming]]) -> None:
    inc, counted, stored = result
    assert counted == 1, "every message is counted once: accepted by kind or rejected by reason"
    if inc is None:
        return
    check_model(inc.msg)
    assert stored == [inc], "an accepted message must be stored"
    _strict(STORAGE.node_detail(inc.node, 1, 1000))


HANDLER = Handler("collector.handle", _handle, refusals=(), check=_check)

test_raw_bytes = fuzz_test(HANDLER, "raw_bytes", fst.raw_bytes)
test_json_trees = fuzz_test(HANDLER, "json_trees", fst.json_trees())
test_mutated_messages = fuzz_test(HANDLER, "mutated_messages", fst.mutated_messages())
