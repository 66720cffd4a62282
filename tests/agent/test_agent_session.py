"""The MQTT session against a real mosquitto: birth, session numbers, state, Will."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from agenttest_central import Central, wait_for

from agent.config import parse_config
from agent.runtime import Agent
from protocol.messages import Birth, NodeState
from provisioning.localbroker import free_port

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


def test_without_broker_the_agent_keeps_sampling_and_stops_cleanly(tmp_path: Path) -> None:
    cfg = parse_config({
        "node": {"id": "lonely", "site": "s1"},
        "mqtt": {"url": f"mqtt://127.0.0.1:{free_port()}", "password": "x",
                 "reconnect_min_s": 0.1, "reconnect_max_s": 0.2},
        "agent": {"state_dir": str(tmp_path), "sample_interval_s": 0.05},
        "outbox": {"flush_every": 1},
    })
    agent = Agent(cfg, [], simulated=True)
    agent.start()
    try:
        wait_for(lambda: agent.samples_stored >= 5, what="samples while offline")
        wait_for(lambda: agent.session_id >= 2, what="connect attempts bump the session")
    finally:
        agent.stop()
    assert agent.outbox is not None and agent.outbox.count >= 5
    assert int((tmp_path / "session").read_text()) == agent.session_id  # durable
