"""e2e fixtures: a whole stack (own mosquitto, central and agents as real processes) per test,
central on SQLite or, for tests marked ``@BOTH_BACKENDS``, on PostgreSQL too."""

# ruff: noqa: E402

from __future__ import annotations

import sys
from pathlib import Path

# tests/ is on sys.path (rootdir conftest) and tests/agent would shadow the real package as a
# namespace package; put the repository first (pyproject's pythonpath = ["."] would do this).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from collections.abc import Iterator

import pytest
from e2e_helpers import StackFactory

from agent.sim.stack import Stack


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Central's database in this test's stacks: "sqlite" (a file, the default) or "postgres"
    (a new database on the session's real PostgreSQL); a test runs on both with
    ``@BOTH_BACKENDS`` (e2e_helpers)."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def make_stack(tmp_path: Path, backend: str,
               request: pytest.FixtureRequest) -> Iterator[StackFactory]:
    """Build Stacks under tmp_path on the ``backend`` database (each Stack its own);
    every process they started is stopped afterwards."""
    stacks: list[Stack] = []

    def factory(nodes: int = 20, **kw: object) -> Stack:
        if backend == "postgres" and "db_url" not in kw:
            kw["db_url"] = request.getfixturevalue("pg_cluster").new_database()
        st = Stack(tmp_path / f"stack{len(stacks)}", nodes, **kw)  # type: ignore[arg-type]
        stacks.append(st)
        st.start_broker()
        return st

    try:
        yield factory
    finally:
        for st in stacks:
            st.close()
