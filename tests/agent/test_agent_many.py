"""Many agents in one process (the simulator runs 50): two threads each, all deliver."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from agenttest_central import Central, wait_for

from agent.runtime import Agent

pytestmark = pytest.mark.broker


def test_ten_agents_share_a_process_with_two_threads_each(
        central: Central, make_agent: Callable[..., Agent], node_id: str) -> None:
    central.auto_receipt = True
    central.announce()
    before = threading.active_count()
    agents = [make_agent(f"{node_id}-{i}") for i in range(10)]
    for a in agents:
        a.start()
    nodes = [a.cfg.node.id for a in agents]
    wait_for(lambda: all(len(set(central.seqs(n))) >= 5 for n in nodes), timeout=20,
             what="every agent delivers")
    assert threading.active_count() - before <= 2 * len(agents)
    for a in agents:
        a.stop()
    assert threading.active_count() <= before
    births = {b.node: b.session for b in central.of("birth") if b.node in nodes}
    assert set(births) == set(nodes)
