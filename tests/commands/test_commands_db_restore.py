"""Central restarted on a fresh (lost) command database: the node's birth reports its gate's
epoch and applied version, central raises its own above them, and commands pass again."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from cmdtest_helpers import SITE, CentralServer, HookFeeder, ShapingNs, wait_for

from agent.runtime import Agent
from central.commands.store import LEASE_NAME
from protocol.messages import Command
from provisioning.localbroker import LocalBroker

pytestmark = [pytest.mark.broker, pytest.mark.netns]

OLD_EPOCH = 5


def _post(central: CentralServer, node: str, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    status, body = central.http("POST", f"/api/v1/nodes/{node}/commands", "operator",
                                {"kind": kind, "params": params, "ttl_s": 30})
    assert status == 202, body
    return dict(body)


def _record(central: CentralServer, cmd_id: object) -> dict[str, Any]:
    status, body = central.http("GET", f"/api/v1/commands/{cmd_id}", "viewer")
    assert status == 200, body
    return dict(body)


def _stages(central: CentralServer, cmd_id: object) -> list[tuple[str, str]]:
    return [(s["stage"], s["code"]) for s in _record(central, cmd_id)["stages"]]


def _applied(central: CentralServer, cmd_id: object) -> bool:
    return _stages(central, cmd_id) == [("accepted", "ok"), ("applied", "ok")]


def _lead_at_old_epoch(central: CentralServer) -> None:
    """Five leader terms on the first database: the lease is held at epoch OLD_EPOCH."""
    for _ in range(OLD_EPOCH - 1):
        assert central.lease.tick()
        central.lease.release()
    assert central.lease.tick() and central.lease.epoch == OLD_EPOCH


def test_fresh_state_db_catches_up_with_the_nodes_epoch_and_version(
        broker: LocalBroker, new_db: Callable[[str], str], feeder: HookFeeder,
        make_agent: Callable[..., Agent], shaping_ns: ShapingNs, node_id: str) -> None:
    instance = f"ci-{node_id}"[:60]

    # 1. history with the first database: five leader terms (epoch 5), versions up to 3
    first = CentralServer(broker, new_db("first"), instance, [node_id])
    feeder.service = first.service
    try:
        _lead_at_old_epoch(first)
        agent = make_agent(node_id)
        agent.command_handlers["failover"] = lambda cmd: ("applied", "ok")  # no real uplinks
        agent.start()
        wait_for(lambda: feeder.of("birth", node_id), what="birth")
        sent = [_post(first, node_id, "set_throttle", {"down_kbps": 2000}),
                _post(first, node_id, "set_throttle", {"down_kbps": 3000}),
                _post(first, node_id, "failover", {})]
        for cmd in sent:
            assert cmd["epoch"] == OLD_EPOCH
            wait_for(partial(_applied, first, cmd["cmd_id"]), what=f"v{cmd['version']}")
        old_version = int(sent[-1]["version"])
        assert (agent.gate.state.highest_epoch, agent.gate.state.applied_version,
                agent.gate.state.throttle_version) == (OLD_EPOCH, old_version, old_version - 1)
        agent.stop()
    finally:
        feeder.service = None
        first.stop()

    # 2. central comes back on a fresh database: a new leader term starts at epoch 1
    second = CentralServer(broker, new_db("second"), instance, [node_id])
    feeder.service = second.service
    try:
        assert second.lease.tick() and second.lease.epoch == 1
        # an operator throttle while the node is offline (clean start: it never arrives);
        # at epoch 1 and version 1 the node's gate would refuse it anyway
        lost = _post(second, node_id, "set_throttle", {"down_kbps": 500})
        assert (lost["epoch"], lost["version"]) == (1, 1)

        # the node comes back (CONNECT -> birth with its persisted gate state)
        node = make_agent(node_id)
        node.command_handlers["failover"] = lambda cmd: ("applied", "ok")
        node.start()
        births = wait_for(lambda: [b for b in feeder.of("birth", node_id) if b.session == 2],
                          what="birth of session 2")
        assert (births[0].cmd_epoch, births[0].applied_version) == (OLD_EPOCH, old_version)
        # the birth raised central's epoch above the node's and its counter to the node's
        wait_for(lambda: second.service.store.current_epoch() == OLD_EPOCH + 1, what="epoch")
        assert second.service.store.version(node_id) >= old_version
        # ... and the existing re-send delivered the desired throttle (500) above both
        resent: Command = wait_for(lambda: [c for c in feeder.of("cmd", node_id)
                                            if c.version > old_version], what="re-send")[0]
        assert (resent.params, resent.epoch) == ({"down_kbps": 500}, OLD_EPOCH + 1)
        wait_for(lambda: _applied(second, resent.cmd_id), what="re-send applied")
        assert _record(second, resent.cmd_id)["origin"] == "birth"

        # a new operator command is applied, with a version and epoch above the node's
        new = _post(second, node_id, "set_throttle", {"down_kbps": 4000})
        assert new["epoch"] == OLD_EPOCH + 1 and int(new["version"]) > old_version
        wait_for(lambda: _applied(second, new["cmd_id"]), what="new command applied")
        rec = _record(second, new["cmd_id"])
        assert rec["state"] == "applied" and rec["stages"][-1]["applied_version"] == new[
            "version"]
        assert shaping_ns.down_kbps() == 4000
        other = _post(second, node_id, "failover", {})  # any kind, not only throttles
        wait_for(lambda: _applied(second, other["cmd_id"]), what="failover applied")
        assert node.gate.state.highest_epoch == OLD_EPOCH + 1

        # the leader picks the raised epoch up and keeps the lease
        assert second.lease.tick() and second.lease.epoch == OLD_EPOCH + 1
        info = second.service.store.lease_info(LEASE_NAME)
        assert info is not None and info["holder"] == instance
        # a birth at the new epoch raises nothing again
        before = second.service.store.current_epoch()
        node.request_resync()
        wait_for(lambda: len([b for b in feeder.of("birth", node_id) if b.session == 2]) >= 2,
                 what="resync birth")
        assert second.service.store.current_epoch() == before
    finally:
        feeder.service = None
        second.stop()


def test_connected_node_answers_a_stale_epoch_with_a_birth_and_central_catches_up(
        broker: LocalBroker, new_db: Callable[[str], str], feeder: HookFeeder,
        make_agent: Callable[..., Agent], shaping_ns: ShapingNs, node_id: str) -> None:
    instance = f"ci-{node_id}"[:60]
    agent = make_agent(node_id)
    try:
        # 1. the node learns epoch 5 from the first database and stays connected throughout
        first = CentralServer(broker, new_db("first"), instance, [node_id])
        feeder.service = first.service
        try:
            _lead_at_old_epoch(first)
            agent.start()
            wait_for(lambda: feeder.of("birth", node_id), what="birth")
            cmd = _post(first, node_id, "set_throttle", {"down_kbps": 2000})
            wait_for(partial(_applied, first, cmd["cmd_id"]), what="throttle applied")
        finally:
            feeder.service = None
            first.stop()
        session = agent.session.session if agent.session is not None else -1
        births_before = len(feeder.of("birth", node_id))

        # 2. central on a fresh database (epoch 1); the node does not reconnect
        second = CentralServer(broker, new_db("second"), instance, [node_id])
        feeder.service = second.service
        try:
            assert second.lease.tick() and second.lease.epoch == 1
            cmd = _post(second, node_id, "set_throttle", {"down_kbps": 500})
            wait_for(lambda: _stages(second, cmd["cmd_id"]) == [("rejected", "stale_epoch")],
                     what="stale_epoch")
            # the refusal makes the node re-publish its birth in the same session ...
            again = wait_for(lambda: feeder.of("birth", node_id)[births_before:],
                             what="birth after stale_epoch")
            assert again[0].session == session and again[0].cmd_epoch == OLD_EPOCH
            # ... which raises central's epoch, and the desired 500 kbit/s is re-sent and applied
            wait_for(lambda: second.service.store.current_epoch() == OLD_EPOCH + 1, what="epoch")
            resent: Command = wait_for(
                lambda: [c for c in feeder.of("cmd", node_id) if c.epoch == OLD_EPOCH + 1],
                what="re-send")[0]
            assert resent.params == {"down_kbps": 500}
            wait_for(lambda: _applied(second, resent.cmd_id), what="re-send applied")
            assert shaping_ns.down_kbps() == 500
            # later commands carry the raised epoch: applied, no further birth needed
            later = _post(second, node_id, "set_throttle", {"down_kbps": 600})
            assert later["epoch"] == OLD_EPOCH + 1
            wait_for(partial(_applied, second, later["cmd_id"]), what="new command applied")
            assert len(feeder.of("birth", node_id)[births_before:]) == 1
            # another stale command (an old leader's) within 30 s: refused, no second birth
            old = second.service.issue(node_id, SITE, "set_throttle", {"down_kbps": 100}, 30,
                                       epoch=1)
            wait_for(lambda: _stages(second, old.cmd_id) == [("rejected", "stale_epoch")],
                     what="second stale_epoch")
            after = _post(second, node_id, "set_throttle", {"down_kbps": 700})  # its ack follows
            wait_for(partial(_applied, second, after["cmd_id"]), what="command after it")
            assert len(feeder.of("birth", node_id)[births_before:]) == 1  # any birth came first
            assert shaping_ns.down_kbps() == 700
        finally:
            feeder.service = None
            second.stop()
    finally:
        agent.stop()
