"""The leader's policy loop runs the real engine on stored samples and throttles the node."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cmdtest_helpers import SITE, CentralServer, HookFeeder, ShapingNs, wait_for

from agent.runtime import Agent
from central.commands.leader import LeaderLease
from central.policy import SiteInfo, Upstream
from central.policy.loop import PolicyLoop, inputs_from

pytestmark = [pytest.mark.broker, pytest.mark.netns]


def test_leader_policy_loop_throttles_from_latest_samples(
        central: CentralServer, feeder: HookFeeder, make_agent: Callable[..., Agent],
        shaping_ns: ShapingNs, node_id: str) -> None:
    agent = make_agent(node_id)
    agent.start()
    wait_for(lambda: [r for r in central.storage.list_nodes()
                      if r["node"] == node_id and r["last_sample_ms"] is not None],
             what="samples stored by the collector")
    # two parks share one 8 Mbit/s circuit: each gets a share below its 8 Mbit/s contract
    sites = {n: SiteInfo(n, SITE, "park", 8000, 4000, "isp-1") for n in (node_id, "park-2")}
    upstreams = {"isp-1": Upstream("isp-1", 8000, 4000)}
    lease = LeaderLease(central.service.store, "policy-test", 30.0)
    loop = PolicyLoop(central.service, lease, inputs_from(central.storage.list_nodes, sites,
                                                          upstreams))
    issued = loop.tick()
    assert lease.epoch is not None
    assert [(c.node, c.kind, c.epoch) for c in issued] == [(node_id, "set_throttle",
                                                            lease.epoch)]
    cmd = issued[0]
    assert 2000 <= cmd.params["down_kbps"] < 8000
    assert cmd.params["lease_s"] == loop.cfg.lease_s
    wait_for(lambda: ("applied", "ok") in feeder.stages(node_id, cmd.cmd_id), what="applied")
    assert shaping_ns.down_kbps() == cmd.params["down_kbps"]
    assert loop.tick() == []  # nothing changed and no renewal due: nothing sent
    lease.release()
    assert central.service.store.lease_info("policy") is not None
