"""Throttle leases: unrenewed, the node returns to its safe default and says so; renewals keep it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cmdtest_helpers import CentralServer, HookFeeder, ShapingNs, wait_for

from agent.runtime import Agent
from central.clock import wall_ms
from central.commands.service import CommandService
from provisioning.localbroker import LocalBroker

pytestmark = [pytest.mark.broker, pytest.mark.netns]

SAFE_DOWN = 50_000


def test_unrenewed_lease_returns_the_node_to_its_safe_default(
        central: CentralServer, feeder: HookFeeder, make_agent: Callable[..., Agent],
        shaping_ns: ShapingNs, node_id: str) -> None:
    agent = make_agent(node_id, default_down_kbps=SAFE_DOWN)
    agent.start()
    wait_for(lambda: feeder.of("birth", node_id), what="birth")
    assert shaping_ns.down_kbps() == SAFE_DOWN  # enforced at start, before any command
    status, body = central.http("POST", f"/api/v1/nodes/{node_id}/commands", "operator", {
        "kind": "set_throttle", "params": {"down_kbps": 2000, "lease_s": 1}, "ttl_s": 30})
    assert status == 202, body
    version = body["version"]

    def events(kind: str) -> list[dict[str, object]]:
        _, data = central.http("GET", f"/api/v1/nodes/{node_id}/events?limit=10000", "viewer")
        return [e for e in data["events"] if e["kind"] == kind]
    wait_for(lambda: events("throttle"), what="throttle applied event")
    lapsed = wait_for(lambda: events("throttle_lease_expired"), what="lease expired event")[0]
    assert lapsed["severity"] == "warning"
    assert lapsed["data"] == {"version": version, "shaping": {
        "version": version, "down_kbps": SAFE_DOWN, "up_kbps": None,
        "per_client_down_kbps": None, "per_client_up_kbps": None}}
    assert shaping_ns.down_kbps() == SAFE_DOWN

    def reverted_sample() -> bool:
        _, data = central.http("GET", f"/api/v1/nodes/{node_id}/samples?limit=10000", "viewer")
        return any(s["throttle_version"] == version and s["throttle_down_kbps"] == SAFE_DOWN
                   for s in data["samples"])
    wait_for(reverted_sample, what="a sample reporting the safe default")


def test_renewal_reissues_the_same_limits_with_a_new_version(
        central: CentralServer, feeder: HookFeeder, make_agent: Callable[..., Agent],
        shaping_ns: ShapingNs, node_id: str) -> None:
    agent = make_agent(node_id)
    agent.start()
    wait_for(lambda: feeder.of("birth", node_id), what="birth")
    params = {"down_kbps": 2500, "lease_s": 600}
    first = central.service.issue(node_id, "taman-kota", "set_throttle", params, 30)
    wait_for(lambda: ("applied", "ok") in feeder.stages(node_id, first.cmd_id), what="applied")
    assert central.service.renew_leases() == []  # not due yet
    svc = central.service
    later = CommandService(svc.store, svc.publisher, svc.topics, svc.instance,
                           clock_ms=lambda: wall_ms() + 400_000,  # past half the lease
                           signer=svc.signer)
    renewed = later.renew_leases(epoch=0)
    assert [(c.node, c.version, c.params) for c in renewed] == [(node_id, first.version + 1,
                                                                 params)]
    wait_for(lambda: ("applied", "ok") in feeder.stages(node_id, renewed[0].cmd_id),
             what="renewal applied")
    assert shaping_ns.down_kbps() == 2500
    assert agent.shaping is not None and agent.shaping.lease_deadline is not None
    assert later.renew_leases() == []  # renewed: not due again


def test_the_leaders_loop_renews_leases_and_releases_the_lease_at_shutdown(
        broker: LocalBroker, new_db: Callable[[str], str], feeder: HookFeeder,
        make_agent: Callable[..., Agent], shaping_ns: ShapingNs, node_id: str) -> None:
    srv = CentralServer(broker, new_db("loop"), f"loop-{node_id}"[:60], [node_id],
                        policy_interval_s=0.2)
    feeder.service = srv.service
    try:
        agent = make_agent(node_id)
        agent.start()
        wait_for(lambda: feeder.of("birth", node_id), what="birth")
        status, body = srv.http("POST", f"/api/v1/nodes/{node_id}/commands", "operator", {
            "kind": "set_throttle", "params": {"down_kbps": 2200, "lease_s": 1}, "ttl_s": 30})
        assert status == 202, body

        def renewals() -> list[dict[str, object]]:
            cmds = [c for c in feeder.of("cmd", node_id) if c.version > body["version"]]
            recs = [srv.http("GET", f"/api/v1/commands/{c.cmd_id}", "viewer")[1] for c in cmds]
            return [r for r in recs if r["origin"] == "renew" and r["state"] == "applied"]
        renewed = wait_for(renewals, what="a renewal applied by the node")[0]
        assert renewed["params"] == {"down_kbps": 2200, "lease_s": 1}
        assert renewed["epoch"] == srv.lease.epoch
        assert shaping_ns.down_kbps() == 2200
    finally:
        feeder.service = None
        srv.stop()
    assert srv.lease.epoch is None  # released: another instance may take over at once
