"""The pure command gate, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from agent.policy.commands import CommandGate, GateState, local_deadline
from protocol.messages import Command

T0 = 1_700_000_000_000  # central's wall clock at issue


def cmd(**over: Any) -> Command:
    base: dict[str, Any] = {"site": "s1", "node": "n1", "ts_ms": T0, "cmd_id": "c1",
                            "kind": "set_throttle", "version": 5, "epoch": 3,
                            "issued_at_ms": T0, "expires_at_ms": T0 + 60_000}
    return Command.model_validate({**base, **over})


STATE = GateState(highest_epoch=3, applied_version=4, throttle_version=4)

# (name, command fields, seconds since receipt, node wall clock, clock synced, stage, code)
CASES: list[tuple[str, dict[str, Any], float, int, bool, str, str]] = [
    ("fresh", {}, 0.0, T0, True, "accepted", "ok"),
    ("wrong node", {"node": "n2"}, 0.0, T0, True, "rejected", "wrong_node"),
    ("wrong site", {"site": "s2"}, 0.0, T0, True, "rejected", "wrong_node"),
    ("unknown kind", {"kind": "self_destruct"}, 0.0, T0, True, "rejected", "unknown_kind"),
    ("stale epoch", {"epoch": 2}, 0.0, T0, True, "rejected", "stale_epoch"),
    ("newer epoch", {"epoch": 9}, 0.0, T0, True, "accepted", "ok"),
    ("same version", {"version": 4}, 0.0, T0, True, "superseded", "superseded"),
    ("older version", {"version": 1}, 0.0, T0, True, "superseded", "superseded"),
    ("local deadline", {}, 61.0, T0, False, "expired", "expired"),
    ("wall expiry synced", {}, 1.0, T0 + 61_000, True, "expired", "expired"),
    ("wall expiry ignored unsynced", {}, 1.0, T0 + 10**9, False, "accepted", "ok"),
    ("zero lifetime", {"expires_at_ms": T0}, 0.0, T0, False, "expired", "expired"),
    ("resync never superseded", {"kind": "resync", "version": 1}, 0.0, T0, True,
     "accepted", "ok"),
    ("expired beats superseded", {"version": 1}, 70.0, T0, False, "expired", "expired"),
    ("wrong node beats stale", {"node": "n9", "epoch": 0}, 0.0, T0, True,
     "rejected", "wrong_node"),
]


@pytest.mark.parametrize(("name", "fields", "after_s", "wall", "synced", "stage", "code"), CASES,
                         ids=[c[0] for c in CASES])
def test_gate(name: str, fields: dict[str, Any], after_s: float, wall: int, synced: bool,
              stage: str, code: str) -> None:
    gate = CommandGate("s1", "n1", GateState(**vars(STATE)))
    c = cmd(**fields)
    received = 500.0  # monotonic seconds, unrelated to wall time
    d = gate.decide(c, deadline=local_deadline(c, received), now=received + after_s,
                    wall_ms=wall, clock_synced=synced)
    assert (d.stage, d.code) == (stage, code)
    assert d.accepted == (stage == "accepted")


def test_highest_epoch_is_remembered() -> None:
    gate = CommandGate("s1", "n1", GateState(**vars(STATE)))
    now = 0.0
    first = cmd(epoch=7, version=6)
    assert gate.decide(first, deadline=10, now=now, wall_ms=T0, clock_synced=True).accepted
    old_leader = cmd(epoch=3, version=8, cmd_id="c2")
    d = gate.decide(old_leader, deadline=10, now=now, wall_ms=T0, clock_synced=True)
    assert d.code == "stale_epoch"


def test_mark_applied_moves_versions_but_not_for_resync() -> None:
    gate = CommandGate("s1", "n1", GateState())
    gate.mark_applied(cmd(kind="resync", version=50))
    assert gate.state.applied_version == 0
    gate.mark_applied(cmd(kind="failover", version=6))
    assert (gate.state.applied_version, gate.state.throttle_version) == (6, 0)
    gate.mark_applied(cmd(kind="set_throttle", version=7))
    assert (gate.state.applied_version, gate.state.throttle_version) == (7, 7)


def test_deadline_uses_mqtt_expiry_when_shorter() -> None:
    c = cmd()  # 60 s lifetime
    assert local_deadline(c, 100.0) == 160.0
    assert local_deadline(c, 100.0, mqtt_expiry_s=5) == 105.0
