"""Policy building blocks: WIB schedule, congestion hysteresis, reasons, command params."""

from __future__ import annotations

from central_policy_helpers import obs, wib_ms

from central.policy import ParkEvent, PolicyConfig, Schedule, Throttle
from central.policy.congestion import group_signal, update
from central.policy.model import GroupState, NodeObs, UplinkObs
from central.policy.reasons import part, render
from central.policy.schedule import active_event, period


def test_office_hours_are_weekdays_0730_to_1600_wib() -> None:
    s = Schedule(holidays=frozenset({"2026-12-25"}))
    assert period(wib_ms(2026, 11, 30, 7, 29), s) == "evening"  # Monday
    assert period(wib_ms(2026, 11, 30, 7, 30), s) == "office_hours"
    assert period(wib_ms(2026, 11, 30, 15, 59), s) == "office_hours"
    assert period(wib_ms(2026, 11, 30, 16, 0), s) == "evening"
    assert period(wib_ms(2026, 11, 28, 10), s) == "weekend"  # Saturday
    assert period(wib_ms(2026, 12, 25, 10), s) == "weekend"  # Christmas, a Friday
    # 08:00 WIB is 01:00 UTC: only the configured offset (not the server's zone) decides
    assert period(wib_ms(2026, 11, 30, 8), Schedule(utc_offset_min=0)) == "evening"


def test_park_event_window_is_end_exclusive() -> None:
    ev = ParkEvent("park-a", wib_ms(2026, 12, 5, 18), wib_ms(2026, 12, 5, 22), "Festival")
    s = Schedule(events=(ev,))
    assert active_event("park-a", wib_ms(2026, 12, 5, 18), s) == ev
    assert active_event("park-a", wib_ms(2026, 12, 5, 22), s) is None
    assert active_event("park-b", wib_ms(2026, 12, 5, 19), s) is None


def test_group_signal_is_the_median_so_one_bad_node_is_not_the_upstream() -> None:
    nodes = [obs("a", 0, rtt=30), obs("b", 0, rtt=35), obs("c", 0, rtt=900, loss=40)]
    assert group_signal(nodes) == (35, 0.0)
    standby = NodeObs("d", 0, True, 1, (UplinkObs("lte", False, 500.0, 0.0),
                                       UplinkObs("wan", True, 40.0, 0.0)))
    assert group_signal([standby]) == (40.0, 0.0)  # the active uplink counts


def test_congestion_needs_consecutive_bad_ticks_and_a_calm_period_to_clear() -> None:
    cfg = PolicyConfig()
    g, t = GroupState(), 0
    for rtt in (30, 30, 200, 30, 200, 200):  # never three bad in a row
        g = update(g, [obs("a", t, rtt=rtt)], t, cfg)
        t += 10_000
    assert not g.congested and g.level == 0
    for _ in range(3):
        g = update(g, [obs("a", t, rtt=200)], t, cfg)
        t += 10_000
    assert g.congested and g.level == 1 and g.rtt_rise_ms == 170
    for _ in range(60):  # calm from the first of these ticks; 9m50s later: not yet
        g = update(g, [obs("a", t, rtt=32)], t, cfg)
        t += 10_000
    assert g.congested
    g = update(g, [obs("a", t, rtt=32)], t, cfg)
    assert not g.congested
    assert g.baseline_rtt_ms is not None and g.baseline_rtt_ms < 33  # congestion was not learnt
    assert update(g, [], t, cfg) == g  # nobody reporting: no change


def test_reasons_carry_code_params_and_both_languages() -> None:
    r = render([part("crowded", users=45, per_client=2048),
                part("share", upstream="core", period="evening", down=40000, up=10000)])
    assert r.code == "crowded"
    assert r.params["crowded.users"] == 45 and r.params["share.period"] == "evening"
    assert r.en == ("45 users: each limited to 2048 kbps; "
                    "share of upstream core during evening: 40000/10000 kbps")
    assert r.id == ("45 pengguna: masing-masing dibatasi 2048 kbps; "
                    "bagian upstream core saat malam: 40000/10000 kbps")


def test_throttle_params_match_the_agents_set_throttle() -> None:
    from agent.policy.shaping import validate_set_throttle  # the agent accepts what we send

    p = Throttle(4000, 2000, 512, None).params(lease_s=900)
    assert p == {"down_kbps": 4000, "up_kbps": 2000, "per_client_down_kbps": 512, "lease_s": 900}
    assert validate_set_throttle(p, 1).per_client_down_kbps == 512
