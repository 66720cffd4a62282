"""Leader lease in the DB: one leader, takeover with epoch+1, the old epoch fenced at the agent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cmdtest_helpers import SITE, HookFeeder, ShapingNs, wait_for

from agent.runtime import Agent
from central.commands.leader import LeaderLease
from central.commands.service import CommandService, MqttPublisher
from central.commands.store import CommandStore
from central.config import load_config
from central.policy.loop import PolicyLoop
from protocol.topics import Topics
from provisioning.localbroker import LocalBroker
from tests.cmdkeys import SIGNER

pytestmark = [pytest.mark.broker, pytest.mark.netns]


@pytest.fixture
def pair(broker: LocalBroker, tmp_path: Path, feeder: HookFeeder,
         state_db: str) -> Iterator[list[tuple[CommandService, LeaderLease]]]:
    """Two central instances (command service + lease) on one state database (SQLite file or
    PostgreSQL)."""
    out: list[tuple[CommandService, LeaderLease]] = []
    env = {"KOTANET_MQTT_URL": broker.url("kt-test"), "KOTANET_DB": f"sqlite:///{tmp_path}/c.db"}
    for name in ("inst-a", "inst-b"):
        cfg = load_config(None, env=env).model_copy(update={"instance": name})
        store = CommandStore(state_db)
        pub = MqttPublisher(cfg)
        pub.start()
        out.append((CommandService(store, pub, Topics(), name, signer=SIGNER),
                    LeaderLease(store, name, 1.0)))
    feeder.service = out[0][0]  # acks land in the shared tables
    try:
        for svc, _ in out:
            assert isinstance(svc.publisher, MqttPublisher)
            wait_for(svc.publisher.connected.is_set, 10, "publisher connected")
        yield out
    finally:
        feeder.service = None
        for svc, _ in out:
            assert isinstance(svc.publisher, MqttPublisher)
            svc.publisher.stop()
            svc.store.close()


def test_takeover_bumps_the_epoch_and_the_old_leader_is_fenced(
        pair: list[tuple[CommandService, LeaderLease]], feeder: HookFeeder,
        make_agent: Callable[..., Agent], shaping_ns: ShapingNs, node_id: str) -> None:
    (svc_a, lease_a), (svc_b, lease_b) = pair
    assert lease_a.tick() and lease_a.epoch is not None
    epoch_n = lease_a.epoch
    assert not lease_b.tick() and lease_b.epoch is None  # one leader at a time
    assert lease_a.tick() and lease_a.epoch == epoch_n  # renewal keeps the epoch
    assert PolicyLoop(svc_b, lease_b, interval_s=0.2).tick() == []  # a follower issues nothing

    agent = make_agent(node_id)
    agent.start()
    wait_for(lambda: feeder.of("birth", node_id), what="birth")
    first = svc_a.issue(node_id, SITE, "set_throttle", {"down_kbps": 2000}, 30, epoch=epoch_n)
    wait_for(lambda: ("applied", "ok") in feeder.stages(node_id, first.cmd_id), what="a applied")

    # A stops renewing (paused, partitioned, ...): B takes over once the lease lapses
    wait_for(lease_b.tick, 15, "takeover by b")
    assert lease_b.epoch == epoch_n + 1
    info = svc_b.store.lease_info("policy")
    assert info is not None and (info["holder"], info["epoch"]) == ("inst-b", epoch_n + 1)
    second = svc_b.issue(node_id, SITE, "set_throttle", {"down_kbps": 3000}, 30,
                         epoch=lease_b.epoch)
    wait_for(lambda: ("applied", "ok") in feeder.stages(node_id, second.cmd_id), what="b applied")

    late = svc_a.issue(node_id, SITE, "set_throttle", {"down_kbps": 100}, 30, epoch=epoch_n)
    assert late.version > second.version  # versions are per node in the shared DB
    wait_for(lambda: feeder.stages(node_id, late.cmd_id), what="ack of the late command")
    assert feeder.stages(node_id, late.cmd_id) == [("rejected", "stale_epoch")]
    rec = svc_a.status(late.cmd_id)
    assert rec is not None and [(s["stage"], s["code"]) for s in rec["stages"]] == [
        ("rejected", "stale_epoch")]
    assert shaping_ns.down_kbps() == 3000
    # the deposed leader's command is not the desired state: a birth re-sends B's throttle
    desired = svc_b.store.desired(node_id)
    assert desired is not None and desired["cmd_id"] == second.cmd_id
    assert not lease_a.tick() and not lease_a.is_leader  # A learns it lost the lease
    assert PolicyLoop(svc_a, lease_a, interval_s=0.2).tick() == []
