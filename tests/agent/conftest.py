"""Fixtures for agent tests: a test central and agents that are always stopped."""

# ruff: noqa: E402

from __future__ import annotations

import sys
from pathlib import Path

# tests/agent would otherwise shadow the real `agent` package as a namespace package when
# pytest puts tests/ on sys.path (the real fix: pythonpath = ["."] in pyproject's pytest config).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from agenttest_central import Central, agent_config

from agent.runtime import Agent
from provisioning.localbroker import LocalBroker

_ids = itertools.count(1)


class ConstProbe:
    """A deterministic probe: one uplink reading."""

    name = "const"

    def collect(self) -> dict[str, Any]:
        return {"uplinks": [{"name": "wan", "up": True, "active": True, "rtt_ms": 12.5}],
                "users": {"associated": 3}}


@pytest.fixture
def node_id(request: pytest.FixtureRequest) -> str:
    """A node id unique in this test session (the broker and its retained state are shared)."""
    return f"n{next(_ids)}-{request.node.name[:30].replace('_', '-').strip('-[]')}"


@pytest.fixture
def central(broker: LocalBroker) -> Iterator[Central]:
    """A test central (not yet announced); its retained state is removed afterwards."""
    c = Central(broker, instance=f"c{next(_ids)}")
    yield c
    c.clear_retained()
    c.close()


@pytest.fixture
def make_agent(broker: LocalBroker, tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    """Factory of started-on-demand agents; all are stopped at teardown."""
    agents: list[Agent] = []

    def make(node: str, state_dir: Path | None = None, **over: Any) -> Agent:
        cfg = agent_config(broker, node, state_dir or tmp_path / node, **over)
        a = Agent(cfg, [ConstProbe()], simulated=True)
        agents.append(a)
        return a

    yield make
    for a in agents:
        a.stop()
