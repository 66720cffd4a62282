"""A real Prometheus scrapes a real kotanet-central while a simulated fleet (kotanet-sim, real
mosquitto) reports; PromQL through Prometheus's HTTP API answers how many nodes are online and
how many users one node has, equal to what central's /api/v1/nodes says, and sees a node go
offline. Every expression of the Grafana dashboard evaluates without error on the live data."""


from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import json
from collections.abc import Iterator
from typing import Any

import pytest
from test_grafana_dashboard import DASHBOARD, expressions, grafana_to_promql
from test_prometheus_scrape import _until, run_prometheus

from agent.sim.stack import Stack

FLEET = 4


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """Mosquitto + kotanet-central (process) + FLEET simulated nodes in two kotanet-sim."""
    st = Stack(tmp_path / "stack", FLEET, interval_s=3.0, keepalive_s=2)
    try:
        st.start_broker()
        st.start_central()
        victim = st.fleet[-1].node
        st.start_sim("sim", only=[n.node for n in st.fleet if n.node != victim])
        st.start_sim("sim-victim", only=[victim])
        _until(lambda: len(st.online()) == FLEET, 60, "every simulated node online",
               lambda: str(st.nodes()))
        yield st
    finally:
        st.close()


def _central_port(st: Stack) -> int:
    return int(next(iter(st.http.values())).rsplit(":", 1)[1])


@pytest.mark.broker
def test_promql_answers_online_nodes_and_users(stack: Stack, tmp_path: Path) -> None:
    victim = stack.fleet[-1].node
    with run_prometheus(_central_port(stack), tmp_path / "prom") as prom:
        def agree() -> tuple[Any, ...] | None:
            api = {n["node"]: n for n in stack.nodes()}
            online = sum(1 for n in api.values() if n["online"])
            users = api[victim]["users"]
            got = (prom.value("sum(kotanet_node_online)"),
                   prom.value(f'kotanet_node_users{{node="{victim}"}}'))
            seen.append((online, users, got))
            return (online, users) if got == (float(online), float(users)) else None

        seen: list[Any] = []
        online, users = _until(agree, 40, "PromQL to agree with /api/v1/nodes",
                               lambda: str(seen[-3:]))
        assert online == FLEET and users is not None and users >= 0
        assert prom.value("count(kotanet_node_online == 1)") == FLEET

        # Every dashboard expression evaluates on the live data (no PromQL error).
        dash = json.loads(DASHBOARD.read_text())
        for where, expr in expressions(dash):
            promql = grafana_to_promql(expr).replace('"tk-01"', f'"{victim}"')
            assert prom.api("query", query=promql) is not None, f"{where}: {promql}"

        # The victim's sim stops: it goes offline in the API and in PromQL alike.
        next(p for p in stack.procs if p.name == "sim-victim").stop()
        _until(lambda: victim not in stack.online(), 30, "the victim offline in the API")
        _until(lambda: prom.value(f'kotanet_node_online{{node="{victim}"}}') == 0.0, 20,
               "PromQL to see the victim offline")
        assert prom.value("sum(kotanet_node_online)") == float(len(stack.online())) == FLEET - 1
        assert prom.query("kotanet_node_online == 0")[0][0]["node"] == victim
