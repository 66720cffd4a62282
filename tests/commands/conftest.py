"""Fixtures for command tests: a shaping namespace, agents with real tc, central, a feeder."""

# ruff: noqa: E402

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # tests/agent must not shadow the real `agent` package
    sys.path.insert(0, _ROOT)

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cmdtest_helpers import CentralServer, ConstProbe, HookFeeder, ShapingNs, agent_config

from agent.controllers.shaping import ShapingController
from agent.runtime import Agent
from central.storage.statedb import is_postgres
from provisioning.localbroker import LocalBroker

_ids = itertools.count(1)


@pytest.fixture
def node_id(request: pytest.FixtureRequest) -> str:
    """A node id unique in this test session (the broker is shared)."""
    return f"cmd{next(_ids)}-{request.node.name[5:30].replace('_', '-').strip('-[]')}"


@pytest.fixture
def shaping_ns() -> Iterator[ShapingNs]:
    """A fresh namespace with br0 where the node's tc shaping happens; deleted afterwards."""
    ns = ShapingNs()
    try:
        yield ns
    finally:
        ns.close()


@pytest.fixture
def make_agent(broker: LocalBroker, tmp_path: Path,
               shaping_ns: ShapingNs) -> Iterator[Callable[..., Agent]]:
    """Agents whose ShapingController drives real tc in shaping_ns; all stopped at teardown."""
    agents: list[Agent] = []

    def make(node: str, **shaping: Any) -> Agent:
        cfg = agent_config(broker, node, tmp_path / node, **shaping)
        agent = Agent(cfg, [ConstProbe()], simulated=True)
        agent.shaping = ShapingController(cfg.shaping, shaping_ns.shaper())
        agents.append(agent)
        return agent

    yield make
    for a in agents:
        a.stop()


@pytest.fixture
def feeder(broker: LocalBroker) -> Iterator[HookFeeder]:
    """The collector's hook wiring stand-in (births/acks -> service) and a raw publisher."""
    f = HookFeeder(broker)
    yield f
    f.close()


@pytest.fixture(params=["sqlite", "postgres"])
def new_db(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """Fresh central databases on both backends: name -> a new SQLite file's path, or the URL
    of a new database on the session's real PostgreSQL (``pg_cluster``)."""
    if request.param == "sqlite":
        return lambda name: str(tmp_path / f"{name}.db")
    cluster = request.getfixturevalue("pg_cluster")
    return lambda name: str(cluster.new_database())


@pytest.fixture
def central(broker: LocalBroker, tmp_path: Path, node_id: str, feeder: HookFeeder,
            state_db: str) -> Iterator[CentralServer]:
    """A real central (collector, API, commands) knowing node_id; hooks fed by the feeder; on
    both backends (``state_db``): telemetry in one SQLite file and the state tables in
    another, or every table in one PostgreSQL database."""
    db = state_db if is_postgres(state_db) else tmp_path / "central.db"
    srv = CentralServer(broker, db, f"ci-{node_id}"[:60], [node_id], state=state_db)
    feeder.service = srv.service
    yield srv
    feeder.service = None
    srv.stop()
