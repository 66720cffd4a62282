"""Fixtures for policy end-to-end tests: a node namespace and real agents shaping inside it."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.config import AgentConfig, parse_config
from agent.controllers.shaping import ShapingController
from agent.runtime import Agent
from provisioning.localbroker import LocalBroker
from tests.cmdkeys import agent_commands
from tests.policy_e2e.policy_helpers import CrowdProbe, NodeNs

_ids = itertools.count(1)


@pytest.fixture
def node_id() -> str:
    """A node id unique in this test session (the broker is shared)."""
    return f"pe{next(_ids)}-tks"


def agent_config(broker: LocalBroker, node: str, site: str, state_dir: Path) -> AgentConfig:
    """A fast agent config with shaping on br0 (the node's broker user is added)."""
    if node not in broker.passwords:
        broker.add_user(node, f"pw-{node}")
    return parse_config({
        "node": {"id": node, "site": site, "role": "park"},
        "mqtt": {"url": f"mqtt://{broker.host}:{broker.port}", "password": f"pw-{node}",
                 "keepalive_s": 2, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        "agent": {"state_dir": str(state_dir), "sample_interval_s": 0.2, "probe_timeout_s": 1.0},
        "outbox": {"flush_every": 1, "retry_min_s": 0.3, "retry_max_s": 1.0},
        "shaping": {"enabled": True, "lan_iface": "br0", "ifb_iface": "ifb-kotanet"},
        "commands": agent_commands(),
    })


@pytest.fixture
def node_ns() -> Iterator[NodeNs]:
    """A fresh namespace with br0 where the node's tc shaping happens; deleted afterwards."""
    ns = NodeNs()
    try:
        yield ns
    finally:
        ns.close()


@pytest.fixture
def make_agent(broker: LocalBroker, tmp_path: Path,
               node_ns: NodeNs) -> Iterator[Callable[..., Agent]]:
    """Started agents whose shaping drives real tc in node_ns; all stopped at teardown."""
    agents: list[Agent] = []

    def make(node: str, site: str, users: int, **_: Any) -> Agent:
        cfg = agent_config(broker, node, site, tmp_path / node)
        agent = Agent(cfg, [CrowdProbe(users)], simulated=True)
        agent.shaping = ShapingController(cfg.shaping, node_ns.shaper())
        agents.append(agent)
        agent.start()
        return agent

    yield make
    for a in agents:
        a.stop()
