"""Probe results become one protocol Sample; bad probe data is isolated."""

from __future__ import annotations

from typing import Any

from agent.probes.base import NotApplicable, ProbeResult, ProbeRunner
from agent.probes.sample import build_sample


class P:
    def __init__(self, name: str, data: dict[str, Any] | Exception) -> None:
        self.name = name
        self.data = data

    def collect(self) -> dict[str, Any]:
        if isinstance(self.data, Exception):
            raise self.data
        return self.data


def test_merge_uplinks_users_system_and_events() -> None:
    results = ProbeRunner([
        P("link", {"uplinks": [{"name": "wan", "up": True, "rtt_ms": 20.0}],
                   "events": [{"kind": "link_down", "severity": "warning", "message": "lte"}]}),
        P("rates", {"uplinks": [{"name": "wan", "rx_bps": 1000.0}, {"name": "lte", "up": False}]}),
        P("users", {"users": {"associated": 4, "leases": 5}}),
        P("system", {"system": {"cpu_pct": 12.0, "temp_c": 51.5}}),
        P("hostapd", NotApplicable("no hostapd socket")),
        P("broken", RuntimeError("boom")),
    ], workers=0).run_all()  # inline, as for simulated nodes
    sample, events = build_sample(results, 1234)
    ups = {u["name"]: u for u in sample.uplinks}
    assert ups["wan"]["up"] is True and ups["wan"]["rtt_ms"] == 20.0
    assert ups["wan"]["rx_bps"] == 1000.0
    assert ups["lte"]["up"] is False
    assert sample.users.associated == 4 and sample.users.leases == 5
    assert sample.users.authenticated is None
    assert sample.system.cpu_pct == 12.0 and sample.system.temp_c == 51.5
    assert sample.ts_ms == 1234
    status = {r["name"]: r["status"] for r in sample.probes}
    assert status == {"link": "ok", "rates": "ok", "users": "ok", "system": "ok",
                      "hostapd": "unavailable", "broken": "failed"}
    assert [(e.kind, e.severity, e.ts_ms) for e in events] == [("link_down", "warning", 1234)]


def test_probe_with_invalid_data_is_failed_and_left_out() -> None:
    results = [ProbeResult("bad", "ok", {"system": {"cpu_pct": 250}}),
               ProbeResult("typo", "ok", {"sytem": {}}),
               ProbeResult("good", "ok", {"system": {"mem_pct": 40.0}})]
    sample, _ = build_sample(results, 1)
    assert sample.system.cpu_pct is None and sample.system.mem_pct == 40.0
    reports = {r["name"]: r for r in sample.probes}
    assert reports["bad"]["status"] == "failed" and "bad data" in reports["bad"]["detail"]
    assert reports["typo"]["status"] == "failed" and "sytem" in reports["typo"]["detail"]
