"""The MQTT session against a real mosquitto: birth, session numbers, state, Will."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from agenttest_central import Central, wait_for

from agent.runtime import Agent
from protocol.messages import Birth, NodeState

pytestmark = pytest.mark.broker


def test_birth_on_connect_carries_session_and_config(
        central: Central, make_agent: Callable[..., Agent], node_id: str) -> None:
    agent = make_agent(node_id)
    agent.start()
    birth: Birth = wait_for(lambda: central.of("birth", node_id), what="birth")[0]
    assert birth.session == 1
    assert birth.config_hash == agent.cfg.config_hash()
    assert birth.role == "park" and birth.simulated is True
    assert len(birth.boot_id) > 8
    states = wait_for(lambda: central.of("state", node_id), what="state")
    assert states[-1].online is True and states[-1].session == 1


def test_session_increments_across_restart_and_clean_stop_publishes_offline(
        central: Central, make_agent: Callable[..., Agent], node_id: str, tmp_path: Path) -> None:
    first = make_agent(node_id, tmp_path / "st")
    first.start()
    wait_for(lambda: central.of("birth", node_id), what="first birth")
    first.stop()
    offline: list[NodeState] = wait_for(
        lambda: [s for s in central.of("state", node_id) if not s.online], what="offline state")
    assert offline[-1].session == 1
    second = make_agent(node_id, tmp_path / "st")
    second.start()
    births = wait_for(lambda: [b for b in central.of("birth", node_id) if b.session == 2],
                      what="second birth")
    assert births[0].session == 2
