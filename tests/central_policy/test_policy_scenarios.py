"""Policy engine on scripted days in Sampit: decisions, reasons and their stability."""

from __future__ import annotations

import random

from central_policy_helpers import SITES, Driver, obs, wib_ms

from central.policy import NodeObs, Override, ParkEvent, Schedule, Throttle

MON_0800 = wib_ms(2026, 11, 30, 8)
FRI_1900 = wib_ms(2026, 11, 27, 19)


def test_office_morning_protects_offices_and_shares_the_rest_to_parks() -> None:
    d = Driver(MON_0800)
    out = d.run(5, lambda n, t: obs(n, t, users=15))
    assert out["office-bupati"].throttle is None and out["office-dinkes"].throttle is None
    park = out["park-tamankota"]
    # core: 100 Mbit/s x 1.5 overcommit; weights office 3+3, park 1+1 -> 1/8 for a park
    assert park.throttle == Throttle(18688, 9216)
    assert park.reason.code == "share" and "office hours" in park.reason.en
    assert "jam kantor" in park.reason.id
    # 16:00 WIB: offices empty out, parks get their whole contract back
    evening = Driver(wib_ms(2026, 11, 30, 15, 50))
    evening.state = d.state
    evening.run(20, lambda n, t: obs(n, t, users=15))
    assert evening.history["park-tamankota"][-1].throttle is None
    assert evening.history["park-tamankota"][-1].reason.code == "within_contract"


def test_crowded_park_evening_caps_each_user_and_stays_stable() -> None:
    d = Driver(FRI_1900)
    out = d.run(3, lambda n, t: obs(n, t, users=80 if n == "park-tamankota" else 5))
    park = out["park-tamankota"]
    assert park.throttle is not None and park.reason.code == "crowded"
    # 40 Mbit/s contract x 3 fair shares / 80 users = 1500 -> 1472 (64 kbit/s steps)
    assert (park.throttle.down_kbps, park.throttle.per_client_down_kbps) == (40000, 1472)
    assert park.throttle.per_client_up_kbps == 512  # 375 kbit/s fair share, held at the floor
    assert "80 users" in park.reason.en and "80 pengguna" in park.reason.id
    assert out["park-lingkar"].throttle is None  # 5 users: nothing to do

    rng = random.Random(5)
    series = [rng.randint(24, 36) for _ in range(720)]  # two hours hovering around 30 users
    crossings = sum(1 for a, b in zip(series, series[1:], strict=False) if (a >= 30) != (b >= 30))
    assert crossings > 100  # the load really does hover over the threshold
    hover = Driver(FRI_1900)
    it = iter(series)
    for _ in series:
        users = next(it)
        hover.tick(lambda n, t, u=users: obs(n, t, users=u if n == "park-tamankota" else 5))
    assert hover.changes("park-tamankota") <= 2


def _congestion(start: int, end: int, rise: float = 170.0, loss: float = 5.0):  # type: ignore[no-untyped-def]
    def observe(node: str, t: int) -> NodeObs:
        bad = start <= t < end and SITES[node].upstream == "baamang"
        return obs(node, t, users=15, rtt=30 + (rise if bad else 0), loss=loss if bad else 0)
    return observe


def test_congested_shared_upstream_steps_parks_down_to_the_floor_then_recovers() -> None:
    t0 = wib_ms(2026, 11, 30, 10)
    d = Driver(t0)
    observe = _congestion(t0 + 10 * 60_000, t0 + 50 * 60_000)
    d.run(10, observe)
    base = d.history["park-baamang"][-1].throttle
    assert base is not None and base.down_kbps == 7424  # 20 Mbit/s x 1.5 x 1/4, office hours
    d.run(40, observe)
    park = [x.throttle.down_kbps for x in d.history["park-baamang"] if x.throttle]
    floor = SITES["park-baamang"].floor_down_kbps
    assert floor <= min(park) <= floor * 1.15  # down to the floor (within the dead band), not below
    assert d.state.groups["baamang"].level == 6
    assert d.history["park-baamang"][-1].reason.code == "congestion"
    assert "padat" in d.history["park-baamang"][-1].reason.id
    office = [x.throttle for x in d.history["office-baamang"]]
    assert office[6 * 19] is None  # offices feel the first two steps later in office hours
    assert office[-1] is not None and office[-1].down_kbps < 20_000
    d.run(90, observe)  # calm again: back up one step per hold time
    assert d.history["park-baamang"][-1].throttle == base
    downs = [x.throttle.down_kbps for x in d.history["park-baamang"] if x.changed and x.throttle]
    turns = sum(1 for a, b, c in zip(downs, downs[1:], downs[2:], strict=False)
                if (b - a) * (c - b) < 0)
    assert turns == 1  # down, then up: exactly one turn, no oscillation


def test_rtt_hovering_near_the_threshold_never_oscillates() -> None:
    t0 = wib_ms(2026, 11, 30, 10)
    d = Driver(t0)
    rng = random.Random(7)
    d.run(10, _congestion(0, 0))
    for _ in range(6 * 120):  # two hours of RTT rise hovering 60-100 ms (threshold 80)
        rise = rng.uniform(60, 100)
        d.tick(lambda n, t, r=rise: obs(n, t, users=15,
                                        rtt=30 + (r if SITES[n].upstream == "baamang" else 0)))
    downs = [x.throttle.down_kbps for x in d.history["park-baamang"] if x.throttle]
    assert all(b <= a for a, b in zip(downs, downs[1:], strict=False))  # only ever tightens
    assert d.changes("park-baamang") <= 6
    assert min(downs) >= SITES["park-baamang"].floor_down_kbps


def test_node_going_offline_keeps_its_decision_unrenewed() -> None:
    d = Driver(FRI_1900)
    crowd = {"park-tamankota": 80}
    online = {n: True for n in SITES}

    def observe(n: str, t: int) -> NodeObs:
        return obs(n, t, users=crowd.get(n, 5), online=online[n])

    before = d.run(10, observe)["park-tamankota"]
    online["park-tamankota"] = False
    crowd["park-tamankota"] = 3  # its last sample no longer matters
    during = d.run(30, observe)
    held = d.history["park-tamankota"][-180:]
    assert all(x.throttle == before.throttle and not x.send for x in held)
    assert during["park-tamankota"].reason.code == "offline_hold"
    assert "node offline" in during["park-tamankota"].reason.en
    assert "node offline" in during["park-tamankota"].reason.id.lower()
    assert during["park-lingkar"].throttle is None and during["office-bupati"].send is False
    online["park-tamankota"] = True
    crowd["park-tamankota"] = 80
    back = d.tick(observe)["park-tamankota"]
    assert back.send and not back.changed and back.throttle == before.throttle


def test_operator_override_wins_but_never_below_the_floor() -> None:
    d = Driver(MON_0800)
    d.run(2, lambda n, t: obs(n, t))
    d.overrides = [Override("park-lingkar", d.now_ms + 3_600_000, Throttle(500, 100, 100, 50),
                            operator="noc-andi")]
    dec = d.tick(lambda n, t: obs(n, t))["park-lingkar"]
    assert dec.changed and dec.send and dec.reason.code == "override"
    assert dec.throttle == Throttle(2000, 1000, 512, 512)
    assert "noc-andi" in dec.reason.en and "floor" in dec.reason.en
    d.overrides = [Override("park-lingkar", d.now_ms + 3_600_000, None)]
    assert d.tick(lambda n, t: obs(n, t))["park-lingkar"].throttle is None  # no hold for a human


def test_renewal_before_lease_and_resend_on_new_epoch() -> None:
    d = Driver(MON_0800)
    d.run(20, lambda n, t: obs(n, t))
    sends = [x for x in d.history["park-lingkar"] if x.send]
    assert len(sends) == 4  # first decision + renewals every 5 min (lease 15 min)
    assert not any(x.send for x in d.history["office-bupati"][1:])  # unthrottled: nothing to renew
    d.epoch = 2
    out = d.tick(lambda n, t: obs(n, t))
    assert all(x.send and x.epoch == 2 for x in out.values())


def test_public_event_in_a_park_gets_a_larger_share_for_its_window() -> None:
    t0 = wib_ms(2026, 11, 30, 10)
    ev = ParkEvent("park-baamang", t0 + 30 * 60_000, t0 + 90 * 60_000, "Festival Habaring Hurung")
    d = Driver(t0, schedule=Schedule(events=(ev,)))
    before = d.run(29, lambda n, t: obs(n, t))["park-baamang"]
    during = d.run(40, lambda n, t: obs(n, t))["park-baamang"]
    after = d.run(40, lambda n, t: obs(n, t))["park-baamang"]
    assert before.throttle is not None and during.throttle is not None
    assert during.throttle.down_kbps > 2 * before.throttle.down_kbps  # weight 4 instead of 1
    assert during.reason.code == "event" and "Festival Habaring Hurung" in during.reason.id
    assert after.throttle == before.throttle
