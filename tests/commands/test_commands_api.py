"""Operator commands over the real API, broker, agent and tc: stages, samples, auth, bad input."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cmdtest_helpers import CentralServer, HookFeeder, ShapingNs, wait_for

from agent.runtime import Agent

pytestmark = [pytest.mark.broker, pytest.mark.netns]


def test_operator_throttle_is_accepted_applied_and_reported_in_samples(
        central: CentralServer, feeder: HookFeeder, make_agent: Callable[..., Agent],
        shaping_ns: ShapingNs, node_id: str) -> None:
    agent = make_agent(node_id)
    agent.start()
    wait_for(lambda: feeder.of("birth", node_id), what="birth")
    status, body = central.http("POST", f"/api/v1/nodes/{node_id}/commands", "operator", {
        "kind": "set_throttle", "params": {"down_kbps": 2000, "up_kbps": 1000}, "ttl_s": 30})
    assert status == 202, body
    cmd_id, version = body["cmd_id"], body["version"]
    assert version >= 1

    def stages() -> list[str]:
        st, rec = central.http("GET", f"/api/v1/commands/{cmd_id}", "viewer")
        assert st == 200, rec
        return [s["stage"] for s in rec["stages"]]
    wait_for(lambda: stages() == ["accepted", "applied"], what="accepted + applied in the API")
    _, rec = central.http("GET", f"/api/v1/commands/{cmd_id}", "viewer")
    assert (rec["node"], rec["kind"], rec["version"], rec["state"]) == (
        node_id, "set_throttle", version, "applied")
    assert all(s["ts_ms"] > 0 and s["received_ms"] > 0 and s["code"] == "ok"
               for s in rec["stages"])
    assert shaping_ns.down_kbps() == 2000  # the kernel enforces what the operator asked

    def shaped_sample() -> bool:
        _, data = central.http("GET", f"/api/v1/nodes/{node_id}/samples?limit=10000", "viewer")
        return any(s["throttle_version"] == version and s["throttle_down_kbps"] == 2000
                   for s in data["samples"])
    wait_for(shaped_sample, what="a stored sample carrying shaping.version")


def test_roles_and_bad_requests_are_refused_and_nothing_is_published(
        central: CentralServer, feeder: HookFeeder, node_id: str) -> None:
    path = f"/api/v1/nodes/{node_id}/commands"
    good = {"kind": "set_throttle", "params": {"down_kbps": 4000}, "ttl_s": 30}
    assert central.http("POST", path, "viewer", good)[0] == 403
    assert central.http("POST", path, None, good)[0] == 401
    bad: list[tuple[dict[str, object], str]] = [
        ({"kind": "self_destruct", "params": {}}, "kind must be one of"),
        ({"kind": "set_throttle", "params": {"down_kbps": -5}}, "down_kbps"),
        ({"kind": "set_throttle", "params": {"down_kbps": 10**12}}, "down_kbps"),
        ({"kind": "set_throttle", "params": {"down_kbps": "fast"}}, "integer"),
        ({"kind": "set_throttle", "params": {}}, "at least one"),
        ({"kind": "set_throttle", "params": {"down_kbps": 900, "speed": 1}}, "unknown params"),
        ({"kind": "clear_throttle", "params": {"down_kbps": 1}}, "unknown params"),
        ({"kind": "set_throttle", "params": {"down_kbps": 900}, "ttl_s": 0}, "ttl_s"),
        ({"kind": "set_throttle", "params": {"down_kbps": 900}, "ttl_s": 86400}, "ttl_s"),
        ({"kind": "set_throttle", "params": {"down_kbps": 900, "lease_s": -1}}, "lease_s"),
        ({"kind": "set_throttle", "params": "down=900"}, "JSON object"),
        ({"kind": "reboot", "extra": True}, "unknown field"),
    ]
    for req, message in bad:
        status, body = central.http("POST", path, "operator", req)
        assert status == 400, (req, body)
        assert message in body["error"], (req, body)
    status, body = central.http("POST", "/api/v1/nodes/no-such-node/commands", "operator", good)
    assert status == 404 and "no-such-node" in body["error"]
    assert central.http("GET", "/api/v1/commands/c-unknown", "viewer")[0] == 404
    # barrier: one good command; it is the first and only one on the wire, with version 1
    status, body = central.http("POST", path, "operator", good)
    assert status == 202
    wait_for(lambda: feeder.of("cmd", node_id), what="the good command on the wire")
    cmds = feeder.of("cmd", node_id)
    assert [(c.cmd_id, c.version) for c in cmds] == [(body["cmd_id"], 1)]
    assert feeder.expiry[body["cmd_id"]] is not None  # the broker drops it once stale
    assert 0 < feeder.expiry[body["cmd_id"]] <= 30  # type: ignore[operator]
