"""Desired state survives agent restarts: central re-sends it on birth when versions differ."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cmdtest_helpers import SITE, CentralServer, HookFeeder, ShapingNs, wait_for

from agent.runtime import Agent
from protocol.messages import Birth

pytestmark = [pytest.mark.broker, pytest.mark.netns]


def _post(central: CentralServer, node: str, down: int) -> dict[str, int | str]:
    status, body = central.http("POST", f"/api/v1/nodes/{node}/commands", "operator", {
        "kind": "set_throttle", "params": {"down_kbps": down}, "ttl_s": 30})
    assert status == 202, body
    return dict(body)


def _stages(central: CentralServer, cmd_id: object) -> list[str]:
    return [s["stage"] for s in central.http("GET", f"/api/v1/commands/{cmd_id}", "viewer")[1]
            ["stages"]]


def _resent(feeder: HookFeeder, node: str, above: int) -> list[int]:
    return [c.version for c in feeder.of("cmd", node) if c.version > above]


def test_birth_with_other_throttle_version_gets_the_desired_state_again(
        central: CentralServer, feeder: HookFeeder, make_agent: Callable[..., Agent],
        shaping_ns: ShapingNs, node_id: str) -> None:
    first = make_agent(node_id)
    first.start()
    wait_for(lambda: feeder.of("birth", node_id), what="birth")
    v1 = _post(central, node_id, 2000)
    wait_for(lambda: _stages(central, v1["cmd_id"]) == ["accepted", "applied"], what="v1")
    first.stop()

    v2 = _post(central, node_id, 3000)  # the node is offline: this one never arrives
    second = make_agent(node_id)
    second.start()
    wait_for(lambda: [b for b in feeder.of("birth", node_id) if b.session == 2], what="birth 2")
    resent = wait_for(lambda: _resent(feeder, node_id, int(v2["version"])), what="re-send")[0]
    cmd = next(c for c in feeder.of("cmd", node_id) if c.version == resent)
    assert cmd.params == {"down_kbps": 3000}
    wait_for(lambda: _stages(central, cmd.cmd_id) == ["accepted", "applied"], what="applied")
    assert central.http("GET", f"/api/v1/commands/{cmd.cmd_id}", "viewer")[1]["origin"] == "birth"
    assert _stages(central, v2["cmd_id"]) == []
    assert shaping_ns.down_kbps() == 3000
    second.stop()

    # a restart wipes tc (safe default at start): its birth says throttle v0, so central
    # restores the throttle once more
    third = make_agent(node_id)
    third.start()
    again = wait_for(lambda: _resent(feeder, node_id, resent), what="re-send after restart")[0]
    again_cmd = next(c for c in feeder.of("cmd", node_id) if c.version == again)
    wait_for(lambda: _stages(central, again_cmd.cmd_id) == ["accepted", "applied"],
             what="applied after restart")
    assert shaping_ns.down_kbps() == 3000
    assert third.shaping is not None and third.shaping.version == again


def test_birth_with_the_desired_version_gets_nothing(central: CentralServer,
                                                     node_id: str) -> None:
    svc = central.service
    cmd = svc.issue(node_id, SITE, "set_throttle", {"down_kbps": 4000}, 30)
    birth = Birth.model_validate({
        "site": SITE, "node": node_id, "ts_ms": 1, "session": 3, "boot_id": "b",
        "agent_version": "t", "config_hash": "h", "role": "park", "clock": {
            "synced": False, "wall_ms": 1}, "throttle_version": cmd.version})
    assert svc.on_birth(birth) is None
    assert svc.store.version(node_id) == cmd.version
    behind = svc.on_birth(birth.model_copy(update={"throttle_version": cmd.version - 1}))
    assert behind is not None and behind.version == cmd.version + 1
    assert behind.params == {"down_kbps": 4000}
