"""A persistent gap in a node's seqs makes the leader send it a `resync`; drops do not."""

from __future__ import annotations

import time
from typing import Any

from cmdtest_helpers import SITE, TOPICS, CentralServer, HookFeeder, wait_for

from central.commands.gap_resync import GapResync
from protocol.codec import encode
from protocol.messages import NodeState, Sample, Tele


def _publish(feeder: HookFeeder, node: str, msg: Any, kind: str, retain: bool = False) -> None:
    feeder.client.publish(TOPICS.node(SITE, node, kind), encode(msg), qos=1,
                          retain=retain).wait_for_publish(5)


def _tele(node: str, seqs: list[int], dropped: list[tuple[int, int, str]] | None = None) -> Tele:
    now = int(time.time() * 1000)
    return Tele.model_validate({
        "site": SITE, "node": node, "ts_ms": now, "session": 1, "seq": seqs[0],
        "samples": [Sample(seq=s, ts_ms=now - 1000 + s) for s in seqs],
        "dropped": dropped or []})


def _online(feeder: HookFeeder, node: str) -> None:
    now = int(time.time() * 1000)
    _publish(feeder, node, NodeState(site=SITE, node=node, ts_ms=now, online=True, session=1),
             "state", retain=True)


def test_persistent_gap_sends_one_resync_until_repeat_interval(
        central: CentralServer, feeder: HookFeeder, node_id: str) -> None:
    _online(feeder, node_id)
    _publish(feeder, node_id, _tele(node_id, [1, 2]), "tele")
    _publish(feeder, node_id, _tele(node_id, [5, 6]), "tele")  # 3..4 never arrive
    wait_for(lambda: len(central.storage.samples(node_id, None, None, 10)) == 4, 10,
             "4 samples stored")
    wait_for(central.lease.tick, 10, "leader lease")
    clock = [int(time.time() * 1000)]
    resync = GapResync(central.storage, central.service, lambda: central.lease.is_leader,
                       grace_ms=0, min_repeat_s=600, clock_ms=lambda: clock[0])
    assert resync.tick() == [node_id]
    wait_for(lambda: feeder.of("cmd", node_id), 10, "resync command on the wire")
    cmds = feeder.of("cmd", node_id)
    assert [c.kind for c in cmds] == ["resync"]
    assert resync.tick() == []  # no second request inside the repeat interval
    clock[0] += 601_000
    assert resync.tick() == [node_id]


def test_agent_reported_drop_is_not_a_gap_and_non_leader_sends_nothing(
        central: CentralServer, feeder: HookFeeder, node_id: str) -> None:
    _online(feeder, node_id)
    _publish(feeder, node_id, _tele(node_id, [1, 2]), "tele")
    _publish(feeder, node_id, _tele(node_id, [5], dropped=[(3, 4, "overflow")]), "tele")
    wait_for(lambda: len(central.storage.samples(node_id, None, None, 10)) == 3, 10,
             "3 samples stored")
    wait_for(central.lease.tick, 10, "leader lease")
    resync = GapResync(central.storage, central.service, lambda: central.lease.is_leader,
                       grace_ms=0)
    assert resync.tick() == []
    _publish(feeder, node_id, _tele(node_id, [8]), "tele")  # a real gap: 6..7
    wait_for(lambda: len(central.storage.samples(node_id, None, None, 10)) == 4, 10,
             "4 samples stored")
    follower = GapResync(central.storage, central.service, lambda: False, grace_ms=0)
    assert follower.tick() == []
    assert resync.tick() == [node_id]
