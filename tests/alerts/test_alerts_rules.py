"""Table-driven tests of the pure alert rules: what a NOC operator sees open and resolve, when."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from central.alerts.model import (
    AlertConfig,
    AlertState,
    LiveSample,
    NodeInputs,
    Opened,
    Resolved,
    Track,
)
from central.alerts.rules import evaluate, live_samples

T0 = 1_764_300_000_000  # a realistic wall clock (ms)
CFG = AlertConfig()  # defaults: offline 120 s, backup 120 s, clear 60 s, 3 samples, fresh 120 s
STEP_S = 10          # the agent's default sample interval and a plausible evaluation period
World = Callable[[int], NodeInputs]
Metrics = Callable[[int], dict[str, Any]]


def ms(t_s: int) -> int:
    """Wall ms of t_s seconds into the scenario."""
    return T0 + t_s * 1000


def run(world: World, until_s: int, cfg: AlertConfig = CFG) -> list[tuple[int, str, str]]:
    """Evaluate the world every STEP_S seconds; returns (t_s, open|resolve, kind) in order."""
    state: AlertState = {}
    out: list[tuple[int, str, str]] = []
    for t in range(0, until_s + 1, STEP_S):
        actions, state = evaluate([world(t)], state, ms(t), cfg)
        out += [(t, "open" if isinstance(a, Opened) else "resolve", a.kind) for a in actions]
    return out


def sampled(metrics: Metrics, delay_s: int = 0, historical: bool = False,
            **node: Any) -> World:
    """A node online since long before t=0 that sent one sample every STEP_S s up to now.

    metrics(ts_s) gives the sample's fields (or {"skip": True}); a sample taken at ts_s
    arrives delay_s later, flagged historical if asked.
    """
    def world(t: int) -> NodeInputs:
        samples = []
        for ts in range(-300, t - delay_s + 1, STEP_S):
            m = metrics(ts)
            if not m.pop("skip", False):
                samples.append(LiveSample(ms(ts), ms(ts + delay_s), historical,
                                          **{"active": "fiber", **m}))
        return NodeInputs(**{"node": "tk-01", "site": "taman-kota", "online": True,
                             "last_seen_ms": ms(t), "primary_uplink": "fiber",
                             "samples": tuple(samples), **node})
    return world


def presence(offline: Callable[[int], bool], **node: Any) -> World:
    """A node with no samples whose presence follows offline(t); offline_since from the data."""
    def world(t: int) -> NodeInputs:
        if not offline(t):
            return NodeInputs("tk-01", "taman-kota", True, None, ms(t), **node)
        start = t
        while start - STEP_S >= 0 and offline(start - STEP_S):
            start -= STEP_S
        return NodeInputs("tk-01", "taman-kota", False, ms(start), ms(start), **node)
    return world


def when(cond: Callable[[int], bool], bad: dict[str, Any], good: dict[str, Any]) -> Metrics:
    """Metrics that are `bad` while cond(ts_s), else `good`."""
    return lambda ts: dict(bad if cond(ts) else good)


HEALTHY = {"rtt_ms": 20.0, "loss_pct": 0.0, "temp_c": 55.0, "disk_pct": 40.0,
           "undervoltage": False}
HOT = {**HEALTHY, "temp_c": 85.0}
ALL_BAD = {"active": "lte", "rtt_ms": 900.0, "loss_pct": 60.0, "temp_c": 95.0,
           "disk_pct": 99.0, "undervoltage": True}
ALL_BAD_KINDS = ["backup_uplink", "disk_full", "temperature", "undervoltage", "uplink_degraded"]

CASES: list[tuple[str, World, int, list[tuple[int, str, str]]]] = [
    ("offline opens after 120 s and resolves 60 s after the node is back",
     presence(lambda t: t < 200), 400, [(120, "open", "offline"), (260, "resolve", "offline")]),
    ("offline for 100 s (a reboot) raises nothing",
     presence(lambda t: t < 100), 400, []),
    ("offline blips shorter than the duration, over and over, raise nothing",
     presence(lambda t: (t // 60) % 2 == 0), 600, []),
    ("back online for 30 s between outages neither resolves nor re-opens",
     presence(lambda t: not 150 <= t < 180), 400, [(120, "open", "offline")]),
    ("online but silent since t=0 counts as offline after 180 s",
     lambda t: NodeInputs("tk-01", "taman-kota", True, None, ms(0)), 300,
     [(180, "open", "offline")]),
    ("on backup uplink lte from t=50 opens at t=170, resolves 60 s after fibre returns",
     sampled(when(lambda ts: 50 <= ts < 300, {**HEALTHY, "active": "lte"}, HEALTHY)), 500,
     [(170, "open", "backup_uplink"), (360, "resolve", "backup_uplink")]),
    ("a 60 s failover and failback raises nothing",
     sampled(when(lambda ts: 50 <= ts < 110, {**HEALTHY, "active": "lte"}, HEALTHY)), 500, []),
    ("loss alternating 9 % / 11 % around the 10 % threshold never opens",
     sampled(lambda ts: {**HEALTHY, "loss_pct": 11.0 if (ts // 10) % 2 else 9.0}), 600, []),
    ("loss 12 % for 3 samples opens; 8 % keeps it open; 1 % for 3 samples + 60 s resolves",
     sampled(lambda ts: {**HEALTHY, "loss_pct": 1.0 if ts < 100 or ts >= 300
                         else 12.0 if ts < 130 else 8.0}), 500,
     [(120, "open", "uplink_degraded"), (380, "resolve", "uplink_degraded")]),
    ("RTT 450 ms sustained opens after 3 samples",
     sampled(when(lambda ts: ts >= 0, {**HEALTHY, "rtt_ms": 450.0}, HEALTHY)), 100,
     [(20, "open", "uplink_degraded")]),
    ("CPU at 85 C for 3 samples opens a temperature alert",
     sampled(when(lambda ts: ts >= 0, HOT, HEALTHY)), 100, [(20, "open", "temperature")]),
    ("CPU wobbling 79 C / 81 C near the 80 C threshold never opens",
     sampled(lambda ts: {**HEALTHY, "temp_c": 81.0 if (ts // 10) % 2 else 79.0}), 600, []),
    ("disk 95 % for 3 samples opens disk_full",
     sampled(when(lambda ts: ts >= 0, {**HEALTHY, "disk_pct": 95.0}, HEALTHY)), 100,
     [(20, "open", "disk_full")]),
    ("under-voltage for 3 samples opens",
     sampled(when(lambda ts: ts >= 0, {**HEALTHY, "undervoltage": True}, HEALTHY)), 100,
     [(20, "open", "undervoltage")]),
    ("a delivery gap opens at once and resolves when the re-send fills it",
     lambda t: NodeInputs("tk-01", "taman-kota", True, None, ms(t),
                          gaps=((5, 9),) if 50 <= t < 150 else ()), 300,
     [(50, "open", "delivery_gap"), (150, "resolve", "delivery_gap")]),
    ("an unregistered node reporting opens an alert",
     lambda t: NodeInputs("rogue-1", "taman-kota", True, None, ms(t), unregistered=True), 30,
     [(0, "open", "unregistered")]),
    ("control: the same bad samples sent live open every sample alert",
     sampled(when(lambda ts: ts >= 0, ALL_BAD, HEALTHY)), 300,
     [(20, "open", k) for k in ["uplink_degraded", "temperature", "undervoltage",
                                "disk_full"]] + [(120, "open", "backup_uplink")]),
    ("historical (backlog) samples, however bad, never open an alert",
     sampled(when(lambda ts: ts >= 0, ALL_BAD, HEALTHY), historical=True), 300, []),
    ("samples arriving 10 min late (not flagged historical) never open an alert",
     sampled(when(lambda ts: ts >= -600, ALL_BAD, HEALTHY), delay_s=600), 900, []),
    ("no samples at all (node gone quiet) opens no sample alert",
     sampled(lambda ts: {"skip": True}), 100, []),
]


@pytest.mark.parametrize(("world", "until", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_rule_scenarios(world: World, until: int, expected: list[tuple[int, str, str]]) -> None:
    """Each scenario opens and resolves exactly the listed alerts at the listed times."""
    assert run(world, until) == expected


def test_late_burst_is_stored_but_only_recent_samples_count() -> None:
    """After an outage a backlog burst arrives at once: only samples inside the window count."""
    now = ms(1000)
    backlog = tuple(LiveSample(ms(ts), now, False, "lte", temp_c=90.0)
                    for ts in range(0, 1000, STEP_S))
    live = live_samples(NodeInputs("tk-01", "s", True, samples=backlog), now, CFG)
    assert [s.ts_ms for s in live] == [ms(ts) for ts in range(880, 1000, STEP_S)]


def test_open_alert_carries_severity_evidence_and_both_languages() -> None:
    """An opened alert says what, where, how bad, in English and Bahasa Indonesia."""
    world = sampled(when(lambda ts: ts >= 0, HOT, HEALTHY))
    state: AlertState = {}
    opened: list[Opened] = []
    for t in (0, 10, 20):
        actions, state = evaluate([world(t)], state, ms(t), CFG)
        opened += [a for a in actions if isinstance(a, Opened)]
    (alert,) = opened
    assert (alert.node, alert.site, alert.kind, alert.severity) == \
        ("tk-01", "taman-kota", "temperature", "critical")
    assert alert.evidence["temp_c"] == 85.0 and alert.evidence["values"] == [85.0] * 3
    assert "85 C" in alert.message_en and "above 80 C" in alert.message_en
    assert "suhu CPU 85 C" in alert.message_id and "di atas 80 C" in alert.message_id


def test_offline_message_counts_minutes_in_both_languages() -> None:
    """The offline text names the node, its site and how long it has been gone."""
    world = presence(lambda t: True)
    actions, _ = evaluate([world(600)], {}, ms(600), CFG)
    (alert,) = actions
    assert isinstance(alert, Opened) and alert.evidence["offline_since_ms"] == ms(0)
    assert alert.message_en == "Node tk-01 at taman-kota has been offline for 10 min"
    assert alert.message_id == "Node tk-01 di taman-kota offline selama 10 menit"


def test_every_kind_has_distinct_english_and_indonesian_text() -> None:
    """No alert reaches the NOC with a missing or untranslated message."""
    world = sampled(when(lambda ts: ts >= 0, ALL_BAD, HEALTHY), unregistered=True,
                    gaps=((3, 4),), online=False, offline_since_ms=ms(-600))
    state: AlertState = {}
    opened: list[Opened] = []
    for t in range(0, 200, STEP_S):
        actions, state = evaluate([world(t)], state, ms(t), CFG)
        opened += [a for a in actions if isinstance(a, Opened)]
    assert sorted(a.kind for a in opened) == sorted(
        [*ALL_BAD_KINDS, "offline", "delivery_gap", "unregistered"])
    for a in opened:
        assert "tk-01" in a.message_en and "tk-01" in a.message_id, a
        assert "?" not in a.message_en + a.message_id, a
        assert a.message_en != a.message_id, a


def test_alert_already_open_in_state_is_not_opened_twice_and_can_resolve() -> None:
    """A tracker loaded as active (e.g. from the table after a restart) only resolves."""
    world = presence(lambda t: t < 30)
    state: AlertState = {("tk-01", "offline"): Track(active=True)}
    events = []
    for t in range(0, 200, STEP_S):
        actions, state = evaluate([world(t)], state, ms(t), CFG)
        events += [(t, type(a).__name__) for a in actions]
    assert events == [(90, Resolved.__name__)]
