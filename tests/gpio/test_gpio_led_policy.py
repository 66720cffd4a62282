"""The LED pattern table (agent.policy.leds): what a technician sees for each node status."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from agent.policy.leds import (
    FAST,
    IDENTIFY,
    OFF,
    ON,
    PROVISION,
    SLOW,
    LedParams,
    LedState,
    NodeStatus,
    blink,
    describe,
    led_pattern,
)

FINE = NodeStatus(mqtt_connected=True, central_online=True, active_uplink="primary")
NO_BROKER = NodeStatus(mqtt_connected=False, active_uplink="primary")


def _s(base: NodeStatus = FINE, **kw: Any) -> NodeStatus:
    return replace(base, **kw)


# (case, status, ok/green, warn/amber, fail/red, words expected in the log text)
TABLE: list[tuple[str, NodeStatus, LedState, LedState, LedState, tuple[str, ...]]] = [
    ("all fine", FINE, ON, OFF, OFF, ("ok",)),
    ("no failover controller, connected", _s(active_uplink="unknown"), ON, OFF, OFF, ("ok",)),
    ("on backup uplink", _s(active_uplink="backup", uplink_down=True),
     blink(SLOW), OFF, OFF, ("backup",)),
    ("standby uplink down while on primary", _s(uplink_down=True), ON, ON, OFF, ("standby",)),
    ("Pi throttled", _s(throttled=True), ON, ON, OFF, ("throttled",)),
    ("under-voltage", _s(undervoltage=True), ON, ON, OFF, ("under-voltage",)),
    ("outbox backlog", _s(backlog=1000), ON, ON, OFF, ("outbox backlog",)),
    ("small backlog is normal", _s(backlog=999), ON, OFF, OFF, ("ok",)),
    ("central offline, broker fine", _s(central_online=False), ON, ON, OFF, ("central offline",)),
    ("backup and throttled combine", _s(active_uplink="backup", throttled=True),
     blink(SLOW), ON, OFF, ("backup", "throttled")),
    ("no uplink at all", _s(NO_BROKER, active_uplink="none", uplink_down=True),
     OFF, OFF, blink(FAST), ("no uplink",)),
    ("no uplink beats a long broker outage",
     _s(NO_BROKER, active_uplink="none", broker_down_s=3600), OFF, OFF, blink(FAST), ("no uplink",)),
    ("broker just lost", _s(NO_BROKER, broker_down_s=10), OFF, OFF, blink(SLOW), ("reconnecting",)),
    ("broker lost just under 5 min", _s(NO_BROKER, broker_down_s=299.9), OFF, OFF, blink(SLOW),
     ("reconnecting",)),
    ("no broker for 5 min", _s(NO_BROKER, broker_down_s=300), OFF, OFF, ON, ("no broker",)),
    ("central state unknown while disconnected is not amber",
     _s(NO_BROKER, broker_down_s=400, central_online=False), OFF, OFF, ON, ("no broker",)),
    ("identify overrides everything", _s(NO_BROKER, active_uplink="none", identify=True),
     blink(IDENTIFY), blink(IDENTIFY), blink(IDENTIFY), ("identify",)),
    ("provisioning", _s(NO_BROKER, provisioning=True),
     blink(PROVISION), blink(PROVISION), OFF, ("provisioning",)),
    ("identify beats provisioning", _s(provisioning=True, identify=True),
     blink(IDENTIFY), blink(IDENTIFY), blink(IDENTIFY), ("identify",)),
]


@pytest.mark.parametrize(("case", "status", "ok", "warn", "fail", "words"), TABLE,
                         ids=[row[0] for row in TABLE])
def test_each_status_gives_its_documented_pattern(case: str, status: NodeStatus, ok: LedState,
                                                  warn: LedState, fail: LedState,
                                                  words: tuple[str, ...]) -> None:
    p = led_pattern(status)
    assert (p.ok, p.warn, p.fail) == (ok, warn, fail), case
    for word in words:
        assert word in p.text, (case, p.text)


def test_fast_slow_and_identify_blinks_look_different() -> None:
    # A technician tells them apart by eye: each timing is used for one meaning only.
    assert len({SLOW, FAST, IDENTIFY, PROVISION}) == 4
    assert FAST[0] + FAST[1] <= (SLOW[0] + SLOW[1]) / 2


def test_thresholds_come_from_params() -> None:
    p = LedParams(broker_long_s=60, backlog_warn=10)
    assert led_pattern(_s(NO_BROKER, broker_down_s=60), p).fail == ON
    assert led_pattern(_s(NO_BROKER, broker_down_s=59), p).fail == blink(SLOW)
    assert led_pattern(_s(backlog=10), p).warn == ON


def test_degraded_text_lists_every_reason_for_the_log() -> None:
    p = led_pattern(_s(throttled=True, undervoltage=True, backlog=5000, central_online=False))
    for reason in ("under-voltage", "Pi throttled", "outbox backlog", "central offline"):
        assert reason in p.text


def test_a_growing_backlog_or_outage_is_the_same_pattern() -> None:
    # The log line is written on change only: counters must not make every loop a change.
    assert led_pattern(_s(backlog=1000)) == led_pattern(_s(backlog=50_000))
    assert led_pattern(_s(NO_BROKER, broker_down_s=300)) == \
        led_pattern(_s(NO_BROKER, broker_down_s=86_400))


def test_describe_is_one_line_with_every_led() -> None:
    line = describe(led_pattern(_s(active_uplink="backup", throttled=True)))
    assert "\n" not in line
    assert line.startswith("ok=blink 1/1 warn=on fail=off (")


def test_pattern_is_a_pure_value() -> None:
    assert led_pattern(FINE) == led_pattern(FINE)
    assert led_pattern(FINE) != led_pattern(_s(throttled=True))
    assert OFF.describe() == "off" and ON.describe() == "on"
