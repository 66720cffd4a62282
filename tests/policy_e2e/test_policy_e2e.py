"""End to end: the leader's policy throttles a real node from its reports, through the broker.

central (build_app from a TOML config + fleet file, real collector, SQLite) <- samples of a real
agent; the policy decides -> set_throttle over MQTT -> agent -> tc in a namespace -> ack
applied -> the API shows the applied throttle and the decision's reasons (EN + ID).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.runtime import Agent
from provisioning.localbroker import LocalBroker
from tests.policy_e2e.policy_helpers import CrowdProbe, NodeNs, PolicyCentral, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.netns]

WIB = dt.timezone(dt.timedelta(hours=7))
FRIDAY_EVENING = int(dt.datetime(2026, 11, 27, 19, 30, tzinfo=WIB).timestamp() * 1000)
PARK = "taman-kota-sampit"
CONTRACT_DOWN, CONTRACT_UP = 20000, 8000


def write_config(tmp: Path, node: str, overrides: list[dict[str, Any]] | None = None,
                 contract: tuple[int, int] = (CONTRACT_DOWN, CONTRACT_UP),
                 policy: str = "") -> Path:
    """central.toml with [policy] plus a JSON fleet file: a park (the agent) and an office
    sharing one 10 Mbit/s circuit."""
    fleet = {
        "upstreams": [{"id": "telkom-parks", "down_kbps": 10000, "up_kbps": 4000}],
        "sites": [
            {"id": PARK, "name": "Taman Kota Sampit", "kind": "park", "lat": -2.5386,
             "lon": 112.9481, "down_kbps": contract[0], "up_kbps": contract[1],
             "upstream": "telkom-parks", "nodes": [node]},
            {"id": "kelurahan-mb", "name": "Kantor Kelurahan MB Hulu", "kind": "office",
             "down_kbps": 20000, "up_kbps": 8000, "upstream": "telkom-parks",
             "nodes": [f"{node}-office"]}],
        "overrides": overrides or []}
    (tmp / "fleet.json").write_text(json.dumps(fleet))
    cfg = tmp / "central.toml"
    cfg.write_text(f'instance = "pe-{node}"\nfleet_file = "fleet.json"\n\n[policy]\n'
                   'interval_s = 0.3\nleader_ttl_s = 5\nlease_s = 600\n'
                   f'timezone = "Asia/Pontianak"\n{policy}')
    return cfg


@pytest.fixture
def start_central(broker: LocalBroker, tmp_path: Path) -> Iterator[Callable[..., PolicyCentral]]:
    """Start central from a config (policy clock fixed); stopped at teardown."""
    started: list[PolicyCentral] = []

    def start(config: Path, clock_ms: int) -> PolicyCentral:
        srv = PolicyCentral(broker, config, tmp_path / "central.db", lambda: clock_ms)
        started.append(srv)
        return srv
    yield start
    for srv in started:
        srv.stop()


def applied_decision(central: PolicyCentral, node: str, code: str | None = None
                     ) -> dict[str, Any]:
    """Wait until the policy's command for node (reason ``code`` if given) is acked 'applied';
    return the decision."""
    def ready() -> dict[str, Any] | None:
        _, body = central.get("/api/v1/policy")
        dec = next((d for d in body["decisions"] if d["node"] == node), None)
        if dec is None or dec["command"] is None or code not in (None, dec["reason"]["code"]):
            return None
        # the API may show a new reason a moment before the command issued for it
        if (dec["throttle"] is None) != (dec["command"]["kind"] == "clear_throttle"):
            return None
        status, cmd = central.get(f"/api/v1/commands/{dec['command']['cmd_id']}")
        return dec if status == 200 and cmd["state"] == "applied" else None
    result: dict[str, Any] = wait_for(ready, what=f"policy command for {node} ({code}) applied")
    return result


def test_crowded_park_in_the_evening_is_throttled_and_the_api_says_why(
        start_central: Callable[..., PolicyCentral], make_agent: Callable[..., Agent],
        node_ns: NodeNs, node_id: str, tmp_path: Path) -> None:
    central = start_central(write_config(tmp_path, node_id), FRIDAY_EVENING)
    make_agent(node_id, PARK, users=40)
    dec = applied_decision(central, node_id)
    t = dec["throttle"]
    # evening weights park 2 : office 0.5 -> 10000 * 1.5 overcommit * 2/2.5 = 12000 kbps,
    # rounded down to 256-kbps steps; each of 40 users may take 3 fair shares (864 kbps)
    assert t == {"down_kbps": 11776, "up_kbps": 4608, "per_client_down_kbps": 864,
                 "per_client_up_kbps": 512}
    assert t["down_kbps"] < CONTRACT_DOWN and t["up_kbps"] < CONTRACT_UP
    assert dec["reason"]["code"] == "crowded"
    assert "40 users" in dec["reason"]["en"] and "evening" in dec["reason"]["en"]
    assert "40 pengguna" in dec["reason"]["id"] and "malam" in dec["reason"]["id"]
    _, body = central.get("/api/v1/policy")
    assert body["leader"] is True and body["period"] == "evening"
    assert dec["epoch"] == body["epoch"] == body["leader_epoch"]
    # the kernel enforces exactly the decision, and the node reports it in its samples
    assert node_ns.rates() == (t["down_kbps"], t["up_kbps"])
    version = dec["command"]["version"]

    def listed() -> dict[str, Any] | None:
        _, nodes = central.get("/api/v1/nodes")
        row = next(n for n in nodes["nodes"] if n["node"] == node_id)
        return row["throttle"] if row["throttle"] and row["throttle"]["version"] == version \
            else None
    assert wait_for(listed, what="applied throttle in the node list") == {
        "version": version, "down_kbps": t["down_kbps"], "up_kbps": t["up_kbps"]}
    # the office's node never reported: no decision, nothing sent
    assert [d["node"] for d in body["decisions"]] == [node_id]


def test_operator_override_from_the_fleet_file_wins_over_the_policy(
        start_central: Callable[..., PolicyCentral], make_agent: Callable[..., Agent],
        node_ns: NodeNs, node_id: str, tmp_path: Path) -> None:
    override = {"site": PARK, "until": "2026-11-28T06:00", "down_kbps": 3072,
                "up_kbps": 1536, "operator": "noc-diskominfo"}
    central = start_central(write_config(tmp_path, node_id, [override]), FRIDAY_EVENING)
    status, _ = central.get("/api/v1/policy", token=None)
    assert status == 401  # decisions are for NOC accounts only
    make_agent(node_id, PARK, users=40)
    dec = applied_decision(central, node_id)
    assert dec["throttle"] == {"down_kbps": 3072, "up_kbps": 1536,
                               "per_client_down_kbps": None, "per_client_up_kbps": None}
    assert dec["reason"]["code"] == "override"
    assert "noc-diskominfo" in dec["reason"]["en"] and "manual" in dec["reason"]["id"]
    assert node_ns.rates() == (3072, 1536)


def test_congested_upstream_throttles_a_park_that_was_within_its_contract(
        start_central: Callable[..., PolicyCentral], make_agent: Callable[..., Agent],
        node_ns: NodeNs, node_id: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, node_id, contract=(8000, 3000), policy="hold_s = 0\n")
    central = start_central(config, FRIDAY_EVENING)
    agent = make_agent(node_id, PARK, users=5)
    calm = applied_decision(central, node_id, "within_contract")
    assert calm["throttle"] is None and calm["command"]["kind"] == "clear_throttle"
    assert node_ns.rates() == (None, None)
    probe = agent.probes[0]
    assert isinstance(probe, CrowdProbe)
    probe.rtt_ms = 215.0  # the shared circuit's RTT rises 200 ms above its baseline
    dec = applied_decision(central, node_id, "congestion")
    # one congestion step: 0.75 x the 8000/3000 contract, in 256/64-kbps steps
    assert dec["throttle"] == {"down_kbps": 5888, "up_kbps": 2240,
                               "per_client_down_kbps": None, "per_client_up_kbps": None}
    assert "telkom-parks congested (RTT +200.0 ms" in dec["reason"]["en"]
    assert "telkom-parks padat" in dec["reason"]["id"]
    assert dec["command"]["version"] > calm["command"]["version"]
    assert node_ns.rates() == (5888, 2240)
    _, body = central.get("/api/v1/policy")
    assert body["upstreams"]["telkom-parks"]["congested"] is True


def test_policy_switched_off_keeps_the_leader_but_decides_nothing(
        start_central: Callable[..., PolicyCentral], node_id: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, node_id)
    config.write_text(config.read_text().replace("[policy]\n", "[policy]\nenabled = false\n"))
    central = start_central(config, FRIDAY_EVENING)

    def leading() -> dict[str, Any] | None:
        _, body = central.get("/api/v1/policy")
        return body if body["leader"] else None
    body = wait_for(leading, what="leader lease taken")
    assert body["enabled"] is False and body["decisions"] == []
    assert body["leader_instance"] == f"pe-{node_id}"
