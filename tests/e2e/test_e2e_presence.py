"""Issue 2 must-shows: three agents + central as separate processes; presence and sessions."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from e2e_helpers import BOTH_BACKENDS, StackFactory, node_by_id

from agent.sim.stack import wait_until

KEEPALIVE_S = 2
PARKS = ["taman-kota-sampit-01", "ikon-jelawat-01"]
OFFICE = "kantor-bupati-kotim-01"
ALL = [*PARKS, OFFICE]
#: A hung node's last packet may be up to one keepalive before it hangs (paho pings only when
#: idle); mosquitto cuts it 1.5 x keepalive after that packet, checking about once a second;
#: then central must process the Will.
HUNG_BOUND_S = 1.5 * KEEPALIVE_S + KEEPALIVE_S + 5.0  # slack for a loaded 2-core CI machine


def _live(node: dict[str, Any]) -> bool:
    """Online with user counts and system figures from a real sample."""
    return bool(node["online"]) and node["users"] is not None and node["cpu_pct"] is not None


@pytest.mark.broker
@BOTH_BACKENDS
def test_three_agents_online_then_kill_stop_restart(make_stack: StackFactory) -> None:
    st = make_stack(20, interval_s=0.3, keepalive_s=KEEPALIVE_S)
    st.start_central("central-1", extra_toml="reconnect_max_s = 2\n")
    t0 = time.monotonic()
    procs = {n: st.start_sim(f"sim-{n}", only=[n]) for n in ALL}

    def all_live() -> dict[str, dict[str, Any]] | None:
        d = node_by_id(st.nodes())
        return d if all(n in d and _live(d[n]) for n in ALL) else None

    # all three listed online, with users and system figures, within 5 s
    nodes = wait_until(all_live, 5.0, "three live nodes in the API")
    print(f"three nodes live after {time.monotonic() - t0:.2f}s")
    assert {nodes[n]["role"] for n in PARKS} == {"park"} and nodes[OFFICE]["role"] == "office"
    sessions = {n: int(nodes[n]["session"]) for n in ALL}

    # SIGKILL a park agent: offline within 1.5 x keepalive (the broker publishes its Will)
    victim = PARKS[0]
    procs[victim].kill()
    t_kill = time.monotonic()
    wait_until(lambda: not node_by_id(st.nodes())[victim]["online"], 1.5 * KEEPALIVE_S + 0.5,
               f"{victim} offline after SIGKILL")
    print(f"SIGKILL -> offline in {time.monotonic() - t_kill:.2f}s")
    assert {OFFICE, PARKS[1]} <= st.online()

    # clean stop of the office agent: offline at once (state online=false before DISCONNECT)
    t_stop = time.monotonic()
    assert procs[OFFICE].stop() == 0
    wait_until(lambda: not node_by_id(st.nodes())[OFFICE]["online"], 1.0, f"{OFFICE} offline")
    print(f"clean stop -> offline in {time.monotonic() - t_stop:.2f}s (incl. process exit)")

    # restart the killed agent: session + 1, online again
    procs[victim] = st.start_sim(f"sim-{victim}-2", only=[victim])
    wait_until(lambda: node_by_id(st.nodes())[victim]["online"], 10.0, f"{victim} back online")
    assert node_by_id(st.nodes())[victim]["session"] == sessions[victim] + 1

    # a hung node (SIGSTOP: TCP stays open, no more packets): offline once keepalive expires,
    # i.e. 1.5 x keepalive after its last packet
    hung = PARKS[1]
    os.kill(procs[hung].pid, signal.SIGSTOP)
    t_hang = time.monotonic()
    try:
        wait_until(lambda: not node_by_id(st.nodes())[hung]["online"],
                   HUNG_BOUND_S, f"{hung} offline after SIGSTOP")
        print(f"SIGSTOP -> offline in {time.monotonic() - t_hang:.2f}s")
    finally:
        os.kill(procs[hung].pid, signal.SIGCONT)
    # it notices, reconnects with a new session and is online again
    wait_until(lambda: (lambda n: n["online"] and n["session"] == sessions[hung] + 1)(
        node_by_id(st.nodes())[hung]), 15.0, f"{hung} back after SIGCONT")
    sessions[hung] += 1

    # SIGKILL the other park and restart it at once, before the broker noticed the death:
    # the old connection's Will (old session) must not mark the new session offline
    other = PARKS[1]
    procs[other].kill()
    procs[other] = st.start_sim(f"sim-{other}-2", only=[other])
    wait_until(lambda: node_by_id(st.nodes())[other]["session"] == sessions[other] + 1, 10.0,
               f"{other} in session {sessions[other] + 1}")
    deadline = time.monotonic() + 1.5 * KEEPALIVE_S + 2.0  # past any late Will of session N
    while time.monotonic() < deadline:
        now = node_by_id(st.nodes())
        assert now[other]["online"], f"stale Will marked {other} offline: {now[other]}"
        assert now[victim]["online"]
        time.sleep(0.2)
