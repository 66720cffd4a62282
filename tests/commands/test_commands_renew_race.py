"""A renewal or birth re-send reads the desired state, then sends it with a new version: an
operator command committed in between must win (the copy of the older state is not sent over it).

The interleaving is made deterministic with a hook on the read (``CommandStore.leased`` for
renewals, ``CommandStore.desired`` for birth re-sends): it posts the operator's command through
the real HTTP API after the read returned and before the copy is issued.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from cmdtest_helpers import SITE, CentralServer, HookFeeder, ShapingNs, wait_for

from agent.runtime import Agent
from central.clock import wall_ms
from central.commands.service import CommandService
from protocol.messages import Birth

pytestmark = [pytest.mark.broker, pytest.mark.netns]

SAFE_DOWN = 50_000
OLD = {"down_kbps": 2500, "lease_s": 600}
# the operator's command landing between the read and the send: new limits, or a clear
OPERATOR = {"set": ("set_throttle", {"down_kbps": 3000}, 3000),
            "clear": ("clear_throttle", {}, SAFE_DOWN)}


def _post(central: CentralServer, node: str, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    status, body = central.http("POST", f"/api/v1/nodes/{node}/commands", "operator", {
        "kind": kind, "params": params, "ttl_s": 30})
    assert status == 202, body
    return dict(body)


def _settled(feeder: HookFeeder, node: str, cmd_id: str) -> bool:
    """The node answered past `accepted` (applied, superseded, ...)."""
    return any(stage != "accepted" for stage, _ in feeder.stages(node, cmd_id))


def _after_read(monkeypatch: pytest.MonkeyPatch, obj: object, name: str,
                hook: Callable[[], None]) -> list[int]:
    """Wrap obj.name so that its first call from this thread (not the feeder's, which may
    still handle the agent's birth) runs hook after reading; returns that thread's call log."""
    real, me = getattr(obj, name), threading.get_ident()
    calls: list[int] = []

    def wrapped(*args: Any) -> Any:
        out = real(*args)
        if threading.get_ident() == me:
            calls.append(len(calls))
            if len(calls) == 1:
                hook()
        return out
    monkeypatch.setattr(obj, name, wrapped)
    return calls


def _check_operator_won(central: CentralServer, feeder: HookFeeder, shaping_ns: ShapingNs,
                        node: str, op: dict[str, Any], kind: str, params: dict[str, Any],
                        down: int, copies: list[Any]) -> None:
    wait_for(lambda: ("applied", "ok") in feeder.stages(node, op["cmd_id"]),
             what="operator command applied")
    for cmd_id in [c.cmd_id for c in copies]:
        wait_for(partial(_settled, feeder, node, cmd_id), what=f"copy {cmd_id} answered")
    desired = central.service.store.desired(node)
    assert desired is not None
    assert (desired["cmd_id"], desired["kind"], desired["params"]) == (op["cmd_id"], kind, params)
    assert shaping_ns.down_kbps() == down
    stale = [(c.version, c.kind, c.params) for c in feeder.of("cmd", node)
             if c.version > op["version"] and c.params == OLD]
    assert stale == [], f"older limits sent above the operator's v{op['version']}"


def _throttled_to_old(central: CentralServer, feeder: HookFeeder,
                      make_agent: Callable[..., Agent], node_id: str) -> CommandService:
    """A started agent with the OLD throttle applied; central's command service."""
    agent = make_agent(node_id, default_down_kbps=SAFE_DOWN)
    agent.start()
    wait_for(lambda: feeder.of("birth", node_id), what="birth")
    svc = central.service
    first = svc.issue(node_id, SITE, "set_throttle", OLD, 30)
    wait_for(lambda: ("applied", "ok") in feeder.stages(node_id, first.cmd_id), what="applied")
    return svc


@pytest.mark.parametrize("operator", sorted(OPERATOR))
def test_operator_command_between_renewal_read_and_send_wins(
        central: CentralServer, feeder: HookFeeder, make_agent: Callable[..., Agent],
        shaping_ns: ShapingNs, node_id: str, monkeypatch: pytest.MonkeyPatch,
        operator: str) -> None:
    svc = _throttled_to_old(central, feeder, make_agent, node_id)
    assert shaping_ns.down_kbps() == 2500

    kind, params, down = OPERATOR[operator]
    ops: list[dict[str, Any]] = []
    reads = _after_read(monkeypatch, svc.store, "leased",
                        lambda: ops.append(_post(central, node_id, kind, params)))
    later = CommandService(svc.store, svc.publisher, svc.topics, svc.instance,
                           clock_ms=lambda: wall_ms() + 400_000,  # past half the lease
                           signer=svc.signer)
    renewed = later.renew_leases(epoch=0)
    assert reads == [0] and len(ops) == 1  # the operator's command landed after the read
    _check_operator_won(central, feeder, shaping_ns, node_id, ops[0], kind, params, down,
                        renewed)
    if kind == "set_throttle":  # the operator's throttle has no lease: nothing left to renew
        assert later.renew_leases(epoch=0) == []


def test_operator_command_between_birth_read_and_resend_wins(
        central: CentralServer, feeder: HookFeeder, make_agent: Callable[..., Agent],
        shaping_ns: ShapingNs, node_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    svc = _throttled_to_old(central, feeder, make_agent, node_id)

    kind, params, down = OPERATOR["set"]
    ops: list[dict[str, Any]] = []
    reads = _after_read(monkeypatch, svc.store, "desired",
                        lambda: ops.append(_post(central, node_id, kind, params)))
    # a birth saying the node lacks the desired throttle (e.g. it restarted): a re-send is due;
    # a service of its own, so the agent's start birth cannot have used the re-send interval
    fresh = CommandService(svc.store, svc.publisher, svc.topics, svc.instance,
                           signer=svc.signer)
    birth = Birth.model_validate({
        "site": SITE, "node": node_id, "ts_ms": 1, "session": 9, "boot_id": "b",
        "agent_version": "t", "config_hash": "h", "role": "park", "clock": {
            "synced": False, "wall_ms": 1}, "throttle_version": 0})
    try:
        resent = fresh.on_birth(birth)
    finally:
        fresh.stop()
    assert reads and len(ops) == 1  # the operator's command landed after the read
    _check_operator_won(central, feeder, shaping_ns, node_id, ops[0], kind, params, down,
                        [] if resent is None else [resent])
