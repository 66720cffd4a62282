"""The route actuator's conntrack flush: counts from conntrack(8)'s message, and a run that
conntrack cut short (an entry vanished under it) is repeated instead of ending the flush."""

from __future__ import annotations

from typing import Any

from agent import sysexec
from agent.actuators.routes import CONNTRACK_ATTEMPTS, RouteActuator, _count_deleted
from agent.config import parse_config

DONE = "conntrack v1.4.7 (conntrack-tools): {} flow entries have been deleted.\n"
CUT = "conntrack v1.4.7 (conntrack-tools): Operation failed: such conntrack doesn't exist\n"


def _actuator(outputs: list[str], calls: list[list[str]]) -> RouteActuator:
    cfg = parse_config({"node": {"id": "n1", "site": "s1"}, "mqtt": {"url": "mqtt://h"},
                        "uplinks": [{"name": "fiber", "iface": "wan1", "priority": 1},
                                    {"name": "lte", "iface": "wan2", "priority": 2}]})

    def run(cmd: list[str], timeout: float) -> sysexec.ExecResult:
        calls.append(list(cmd))
        return sysexec.ExecResult(tuple(cmd), 0, "", outputs.pop(0))

    act = RouteActuator(cfg, ipr=object(), run=run)
    act._addr_cache["fiber"] = ["100.64.1.2"]
    act._addresses = lambda up: act._addr_cache.get(up.name, [])  # type: ignore[method-assign]
    return act


def test_count_is_read_from_the_message_not_from_the_version() -> None:
    assert _count_deleted(DONE.format(3)) == 3
    assert _count_deleted(DONE.format(0)) == 0
    assert _count_deleted(CUT) is None
    assert _count_deleted("") is None


def test_a_run_cut_short_is_repeated_until_conntrack_reports_its_count() -> None:
    calls: list[list[str]] = []
    act = _actuator([CUT, DONE.format(2)], calls)
    assert act.flush_conntrack(act.uplinks["fiber"]) == 2
    assert calls == [["conntrack", "-D", "-f", "ipv4", "-q", "100.64.1.2"]] * 2


def test_repeats_are_bounded() -> None:
    calls: list[list[Any]] = []
    act = _actuator([CUT] * CONNTRACK_ATTEMPTS, calls)
    assert act.flush_conntrack(act.uplinks["fiber"]) == 0
    assert len(calls) == CONNTRACK_ATTEMPTS
