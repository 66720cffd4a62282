"""Bad commands published straight onto a node's cmd topic: refused with a reason, no change."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from cmdtest_helpers import HookFeeder, ShapingNs, wait_for

from agent.runtime import Agent

pytestmark = [pytest.mark.broker, pytest.mark.netns]


def test_bad_commands_are_refused_with_reason_and_change_nothing(
        feeder: HookFeeder, make_agent: Callable[..., Agent], shaping_ns: ShapingNs,
        node_id: str) -> None:
    agent = make_agent(node_id)
    agent.start()
    wait_for(lambda: feeder.of("birth", node_id), what="birth")
    good = feeder.send(node_id, version=5, epoch=2, params={"down_kbps": 3000})
    wait_for(lambda: ("applied", "ok") in feeder.stages(node_id, good), what="good applied")
    before = (shaping_ns.shaper().read(), agent.gate.state.applied_version,
              agent.shaping.current() if agent.shaping else None)
    assert before[1] == 5 and shaping_ns.down_kbps() == 3000

    now = int(time.time() * 1000)
    cases = [
        (feeder.send(node_id, 6, kind="self_destruct", epoch=2), [("rejected", "unknown_kind")]),
        (feeder.send(node_id, 7, epoch=2, params={"down_kbps": -100}),
         [("accepted", "ok"), ("rejected", "bad_params")]),
        (feeder.send(node_id, 8, epoch=2, params={"down_kbps": 10**12}),
         [("accepted", "ok"), ("rejected", "bad_params")]),
        # zero lifetime: expired by the local monotonic deadline even without NTP
        (feeder.send(node_id, 9, epoch=2, params={"down_kbps": 500},
                     issued_at_ms=now, expires_at_ms=now), [("expired", "expired")]),
        (feeder.send(node_id, 5, epoch=2, params={"down_kbps": 100}),
         [("superseded", "superseded")]),
        (feeder.send(node_id, 10, epoch=1, params={"down_kbps": 100}),
         [("rejected", "stale_epoch")]),
    ]
    for cmd_id, want in cases:
        wait_for(lambda c=cmd_id, w=want: len(feeder.stages(node_id, c)) >= len(w),  # type: ignore[misc]
                 what=f"acks of {cmd_id}")
        assert feeder.stages(node_id, cmd_id) == want, cmd_id
        if want[-1] == ("rejected", "bad_params"):  # the operator learns why, not just "no"
            ack = [a for a in feeder.of("ack", node_id) if a.cmd_id == cmd_id][-1]
            assert "down_kbps" in ack.detail, ack.detail
    # wrong node in the payload (topic/payload mismatch): refused with its reason (issue 12:
    # the node says why), and nothing changes
    wrong = feeder.send(node_id, 11, epoch=2, params={"down_kbps": 100}, node="someone-else")
    barrier = feeder.send(node_id, 12, kind="resync", epoch=2)
    wait_for(lambda: feeder.stages(node_id, barrier), what="barrier ack")
    assert feeder.stages(node_id, wrong) == [("rejected", "wrong_node")]
    after = (shaping_ns.shaper().read(), agent.gate.state.applied_version,
             agent.shaping.current() if agent.shaping else None)
    assert after == before
    assert shaping_ns.down_kbps() == 3000
