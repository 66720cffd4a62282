"""A command end to end: operator -> central -> agent gate -> (simulated) actuator -> acks -> API."""

from __future__ import annotations

from typing import Any

import pytest
from e2e_helpers import BOTH_BACKENDS, StackFactory, node_by_id

from agent.sim.stack import Stack, wait_until

NODE = "taman-kota-sampit-01"


def _command(st: Stack, kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """POST a command and wait for its final ack stage."""
    status, body = st.api_post(f"/api/v1/nodes/{NODE}/commands",
                               {"kind": kind, "params": params, "ttl_s": 30})
    assert status == 202, body
    cmd_id = body["cmd_id"]

    def final() -> dict[str, Any] | None:
        rec: dict[str, Any] = st.api(f"/api/v1/commands/{cmd_id}")
        return rec if rec["state"] in ("applied", "rejected", "expired", "superseded") else None

    return wait_until(final, 10, f"{kind} acked")


def _throttle(st: Stack) -> dict[str, Any] | None:
    return node_by_id(st.nodes())[NODE]["throttle"]  # type: ignore[no-any-return]


@pytest.mark.broker
@BOTH_BACKENDS
def test_operator_throttle_is_applied_shown_and_cleared(make_stack: StackFactory) -> None:
    st = make_stack(20, interval_s=0.3, keepalive_s=4)
    st.start_central("c1")
    sim = st.start_sim("sim", only=[NODE])
    wait_until(lambda: NODE in st.online(), 15, "node online")

    rec = _command(st, "set_throttle", {"down_kbps": 4000, "up_kbps": 1000, "lease_s": 600})
    assert [s["stage"] for s in rec["stages"]] == ["accepted", "applied"], rec
    shown = wait_until(lambda: (lambda t: t if t and t["down_kbps"] == 4000 else None)(
        _throttle(st)), 10, "throttle shown in the node list")
    assert shown["up_kbps"] == 1000

    # the simulated traffic obeys it: the active uplink carries at most 4 Mbit/s
    samples = st.api(f"/api/v1/nodes/{NODE}/samples?limit=10000")["samples"]
    shaped = [s["data"] for s in samples if s["throttle_down_kbps"] == 4000]
    assert shaped
    rates = [u["rx_bps"] for s in shaped for u in s["uplinks"] if u.get("active")]
    assert rates and max(rates) <= 4_000_000, rates
    print(f"{len(shaped)} samples under the throttle, max {max(rates) / 1e6:.2f} Mbit/s")

    # the node restarts and forgets (in-memory actuator): central re-sends the desired state
    before = node_by_id(st.nodes())[NODE]
    sim.kill()
    sim = st.start_sim("sim-2", only=[NODE])

    def restored() -> bool:
        now = node_by_id(st.nodes())[NODE]
        fresh = now["session"] > before["session"] and now["last_seq"] > before["last_seq"] + 6
        return bool(fresh and now["throttle"] and now["throttle"]["down_kbps"] == 4000)

    wait_until(restored, 15, "throttle in samples of the new session, without an operator")

    rec = _command(st, "clear_throttle", {})
    assert rec["state"] == "applied", rec
    wait_until(lambda: (lambda t: t is not None and t["down_kbps"] is None)(_throttle(st)), 10,
               "throttle cleared in the node list")
