"""The real kotanet-agent fails over and back by itself, and central sees every step.

The agent runs inside the node namespace; mosquitto and kotanet-central run in the 'internet'
namespace, so the agent's MQTT session really travels over the active uplink. What a NOC
operator relies on is checked where they would see it: central's events and samples API, and
the broker's own record of where each connection came from.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_agent_failover_stack import NODE, STABLE_S, WAN_ADDR, AgentLab, wait_for

pytestmark = pytest.mark.netns


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[AgentLab]:
    """Namespaces + broker + central + agent; everything is stopped and removed afterwards."""
    lab = AgentLab(tmp_path)
    try:
        lab.start_broker()
        lab.start_central()
        lab.start_agent()
        yield lab
    finally:
        lab.close()


def _session(lab: AgentLab) -> int:
    node = lab.api(f"/api/v1/nodes/{NODE}") or {}
    return int((node.get("birth") or {}).get("session", 0))


def _online(lab: AgentLab) -> bool:
    return bool((lab.api(f"/api/v1/nodes/{NODE}") or {}).get("online"))


def _ms() -> int:
    return int(time.time() * 1000)


def test_agent_fails_over_on_carrier_loss_and_back_after_stable_window(stack: AgentLab) -> None:
    lab = stack
    # steady state: the session runs over the primary and central stores its samples
    wait_for(lambda: "dev wan1" in lab.route(), 20, "the agent's default route via wan1")
    t_route = _ms()
    wait_for(lambda: [s for s in lab.samples(t_route) if s["active_uplink"] == "primary"
                      and s["session"] == _session(lab)][2:], 30,
             "samples of the current session via the primary at central")
    assert lab.connections_from(WAN_ADDR["primary"]) >= 1, lab.log("mosquitto-broker")
    assert lab.connections_from(WAN_ADDR["backup"]) == 0
    before = _session(lab)

    # the primary loses carrier: the route, the session and the samples move to the backup
    t_cut = _ms()
    lab.carrier(1, up=False)
    wait_for(lambda: "dev wan2" in lab.route(), 5, "default route via wan2")
    fo = wait_for(lambda: lab.events("failover"), 20, "failover event at central")[0]
    assert (fo["data"]["from"], fo["data"]["to"]) == ("primary", "backup")
    assert fo["data"]["evidence"]["primary"]["reason"] == "carrier", fo["data"]
    assert fo["data"]["applied"] is True and fo["ts_ms"] >= t_cut
    wait_for(lambda: _session(lab) > before, 20, "a new MQTT session (birth) at central")
    assert lab.connections_from(WAN_ADDR["backup"]) >= 1, "the new session comes via wan2"
    after = _session(lab)
    time.sleep(1.0)  # the old connection's Will (if the broker sends one) must not win
    assert _online(lab), "central shows the node online after the failover"
    over_backup = wait_for(
        lambda: [s for s in lab.samples(fo["ts_ms"] + 1000)
                 if s["active_uplink"] == "backup" and s["session"] == after][3:], 20,
        "samples of the new session with active_uplink = backup")
    assert all(s["active_uplink"] == "backup" for s in lab.samples(over_backup[0]["ts_ms"]))

    # the primary returns: no failback inside the stable window, then failback
    t_up = _ms()
    lab.carrier(1, up=True)
    time.sleep(STABLE_S * 0.6)
    assert not lab.events("failback") and "dev wan2" in lab.route(), "failed back too early"
    fb = wait_for(lambda: lab.events("failback"), STABLE_S + 20, "failback event at central")[0]
    assert (fb["data"]["from"], fb["data"]["to"]) == ("backup", "primary")
    assert fb["ts_ms"] - t_up >= STABLE_S * 1000 - 50, "failed back inside the stable window"
    assert lab.events("uplink_up"), "the primary's recovery was reported"
    assert "dev wan1" in lab.route()
    wait_for(lambda: _session(lab) > after, 20, "another MQTT session after failback")
    wait_for(lambda: [s for s in lab.samples(fb["ts_ms"] + 1000)
                      if s["active_uplink"] == "primary"][3:], 20,
             "samples with active_uplink = primary again")
    assert lab.connections_from(WAN_ADDR["primary"]) >= 2, "the session is back on wan1"
    assert _online(lab)
    assert len(lab.events("failover")) == 1 and len(lab.events("failback")) == 1, "no flapping"


def test_silent_upstream_blackhole_moves_the_session_to_the_backup(stack: AgentLab) -> None:
    lab = stack
    wait_for(lambda: "dev wan1" in lab.route(), 20, "the agent's default route via wan1")
    wait_for(lambda: lab.samples(0)[2:], 30, "samples at central")
    before = _session(lab)
    t_cut = _ms()
    lab.isp[1].run("ip", "route", "replace", "blackhole", "default")  # carrier stays up
    down = wait_for(lambda: lab.events("uplink_down"), 20, "uplink_down event at central")[0]
    assert down["data"]["uplink"] == "primary" and down["data"]["reason"] == "no_replies"
    assert down["data"]["window_failures"] >= 3 and down["data"]["rounds"], down["data"]
    fo = wait_for(lambda: lab.events("failover"), 10, "failover event at central")[0]
    assert fo["data"]["to"] == "backup" and fo["data"]["flushed"] >= 1, fo["data"]
    assert "dev wan2" in lab.route() and "wan1" in lab.node.run("ip", "link").stdout
    # the old session hangs on a path that drops everything; it must not wait for keepalive
    wait_for(lambda: _session(lab) > before, 15, "a new MQTT session over the backup")
    assert lab.connections_from(WAN_ADDR["backup"]) >= 1
    wait_for(lambda: [s for s in lab.samples(t_cut) if s["active_uplink"] == "backup"][2:], 20,
             "samples with active_uplink = backup")
