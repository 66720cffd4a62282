"""Commands over the real broker: gate, acks, handlers, resync; reconnect after broker loss."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from agenttest_central import Central, wait_for

from agent.runtime import Agent
from protocol.messages import Command
from provisioning.localbroker import LocalBroker

pytestmark = pytest.mark.broker

MakeAgent = Callable[..., Agent]


def _stages(central: Central, node: str, cmd_id: str) -> list[tuple[str, str]]:
    return [(a.stage, a.code) for a in central.of("ack", node) if a.cmd_id == cmd_id]


def test_command_is_accepted_then_applied_and_older_versions_are_superseded(
        central: Central, make_agent: MakeAgent, node_id: str) -> None:
    agent = make_agent(node_id)
    applied: list[Command] = []
    agent.command_handlers["set_throttle"] = lambda c: (applied.append(c), ("applied", "ok"))[1]
    agent.start()
    wait_for(lambda: central.of("birth", node_id), what="birth")
    cid = central.command(node_id, "set_throttle", version=3, params={"down_kbps": 2048})
    wait_for(lambda: len(_stages(central, node_id, cid)) == 2, what="two acks")
    assert _stages(central, node_id, cid) == [("accepted", "ok"), ("applied", "ok")]
    assert applied[0].params == {"down_kbps": 2048}
    old = central.command(node_id, "set_throttle", version=2)
    wait_for(lambda: _stages(central, node_id, old), what="ack of old version")
    assert _stages(central, node_id, old) == [("superseded", "superseded")]
    assert len(applied) == 1


def test_unsupported_kind_and_stale_epoch_are_rejected(
        central: Central, make_agent: MakeAgent, node_id: str, tmp_path: object) -> None:
    agent = make_agent(node_id)
    agent.start()
    wait_for(lambda: central.of("birth", node_id), what="birth")
    cid = central.command(node_id, "failover", version=5, epoch=4)
    wait_for(lambda: len(_stages(central, node_id, cid)) == 2, what="acks")
    assert _stages(central, node_id, cid) == [("accepted", "ok"), ("rejected", "unsupported")]
    stale = central.command(node_id, "failover", version=6, epoch=3)
    wait_for(lambda: _stages(central, node_id, stale), what="stale ack")
    assert _stages(central, node_id, stale) == [("rejected", "stale_epoch")]
    agent.stop()
    again = Agent(agent.cfg, [], simulated=True)  # the highest epoch survives a restart
    again.start()
    try:
        wait_for(lambda: [b for b in central.of("birth", node_id) if b.session == 2], what="birth 2")
        stale2 = central.command(node_id, "failover", version=7, epoch=3)
        wait_for(lambda: _stages(central, node_id, stale2), what="stale ack after restart")
        assert _stages(central, node_id, stale2) == [("rejected", "stale_epoch")]
    finally:
        again.stop()


def test_resync_republishes_birth_and_resends_unreceipted(
        central: Central, make_agent: MakeAgent, node_id: str) -> None:
    central.announce()
    agent = make_agent(node_id, outbox={"retry_min_s": 30.0, "retry_max_s": 60.0})
    agent.start()
    wait_for(lambda: central.of("tele", node_id), what="first tele")
    n_births = len(central.of("birth", node_id))
    cid = central.command(node_id, "resync", version=0)
    wait_for(lambda: ("applied", "ok") in _stages(central, node_id, cid), what="resync applied")
    wait_for(lambda: len(central.of("birth", node_id)) > n_births, what="birth again")
    wait_for(lambda: central.seqs(node_id).count(0) >= 2, what="seq 0 sent again")
    again = [t for t in central.of("tele", node_id) if 0 in t.record_seqs()][1]
    assert again.historical


def test_broker_restart_reconnects_with_new_session_and_loses_nothing(
        broker: LocalBroker, central: Central, make_agent: MakeAgent, node_id: str) -> None:
    central.auto_receipt = True
    central.announce()
    agent = make_agent(node_id)
    agent.start()
    wait_for(lambda: len(set(central.seqs(node_id))) >= 10, what="delivery before restart")
    broker.restart(kill=True)
    wait_for(lambda: [b for b in central.of("birth", node_id) if b.session >= 2], timeout=20,
             what="birth of a new session")
    mark = agent.samples_stored
    wait_for(lambda: len(set(central.seqs(node_id))) >= mark + 5, timeout=20,
             what="delivery after restart")
    agent.stop()
    seqs = sorted(set(central.seqs(node_id)))
    assert seqs == list(range(len(seqs)))
