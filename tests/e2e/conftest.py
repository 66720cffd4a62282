"""e2e fixtures: a whole stack (own mosquitto, central and agents as real processes) per test."""

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
def make_stack(tmp_path: Path) -> Iterator[StackFactory]:
    """Build Stacks under tmp_path; every process they started is stopped afterwards."""
    stacks: list[Stack] = []

    def factory(nodes: int = 20, **kw: object) -> Stack:
        st = Stack(tmp_path / f"stack{len(stacks)}", nodes, **kw)  # type: ignore[arg-type]
        stacks.append(st)
        st.start_broker()
        return st

    try:
        yield factory
    finally:
        for st in stacks:
            st.close()
