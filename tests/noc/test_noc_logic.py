"""Pure parts of the NOC: languages and WIB time, health states, root cause, series, budget."""

from __future__ import annotations

from pathlib import Path

from noc_helpers import fill, open_db, sample

from central.noc import NocSettings, budget, fleet, series
from central.noc.i18n import CATALOG, pick_lang, t, wib
from central.noc.views_node import root_cause
from central.storage import Incoming
from protocol.messages import Tele

NOW = 1_795_000_000_000  # 2026-11-18 ... UTC


def test_language_choice_and_wib_time() -> None:
    assert pick_lang(None, None) == "id"  # Indonesian by default
    assert pick_lang(None, "en-US,en;q=0.9") == "en"
    assert pick_lang(None, "fr-FR, en;q=0.4, id;q=0.8") == "id"
    assert pick_lang("en", "id-ID") == "en"  # the cookie wins
    assert pick_lang("xx", "de-DE") == "id"
    assert wib(0) == "01 Jan 1970 07:00 WIB"  # UTC+7, all year; one date format per language
    assert wib(1796600000000) == "07 Des 2026 06:33 WIB"
    assert wib(1796600000000, lang="en") == "07 Dec 2026 06:33 WIB"
    assert wib(1796600000000, with_date=False) == "06:33 WIB"
    assert wib(None) == "—"
    assert all(a and b for a, b in CATALOG.values())


def _row(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {"node": "n1", "site": "s1", "online": 1, "last_sample_ms": NOW,
                               "active_uplink": "fibre", "loss_pct": 0.0, "rtt_ms": 20.0,
                               "users_total": 7, "unregistered": 0}
    return {**base, **kw}


def test_health_states_and_tiles() -> None:
    assert fleet.node_state(_row(), "fibre") == "ok"
    assert fleet.node_state(_row(online=0), "fibre") == "offline"
    assert fleet.node_state(_row(active_uplink="lte"), "fibre") == "backup"
    assert fleet.node_state(_row(loss_pct=12.0), "fibre") == "degraded"
    assert fleet.node_state(_row(throttle_down_kbps=8000), "fibre") == "throttled"
    assert fleet.node_state(_row(unregistered=1), "fibre") == "unregistered"
    views = [fleet.node_view(_row(node="a"), "fibre", set()),
             fleet.node_view(_row(node="b", online=0), "fibre", {"b"}),
             fleet.node_view(_row(node="c", active_uplink="lte", throttle_down_kbps=500),
                             "fibre", set()),
             fleet.node_view(_row(node="d", unregistered=1), None, set())]
    tl = fleet.tiles(views)
    assert (tl["online"], tl["offline"], tl["backup"], tl["throttled"]) == (3, 1, 1, 1)
    assert tl["users"] == 21  # online nodes only
    assert tl["alerts"] == 1 + 1 + 1  # gap, unregistered, offline
    # every problem counts, also beside a worse one: degraded and throttled at once
    both = fleet.node_view(_row(node="e", loss_pct=6.3, throttle_down_kbps=800), "fibre", set())
    assert both["state"] == "degraded" and both["problems"] == ["degraded", "throttled"]
    tl2 = fleet.tiles([*views, both])
    assert (tl2["degraded"], tl2["throttled"], tl2["alerts"]) == (1, 2, 4)
    marks = fleet.map_sites(views, {"s1": {"lat": -2.5, "lon": 112.9, "name": "S"}})
    assert len(marks) == 1 and marks[0]["state"] == "offline"  # worst node colours the site


def test_root_cause_lines_in_both_languages() -> None:
    v = fleet.node_view(_row(active_uplink="lte", online_since_ms=NOW - 3600_000), "fibre",
                        set())
    ev = [{"kind": "uplink_trouble", "ts_ms": NOW - 900_000,
           "data": {"uplink": "fibre", "trouble": "outage"}},
          {"kind": "uplink_recovered", "ts_ms": NOW - 800_000, "data": {"uplink": "fibre"}},
          {"kind": "failover", "ts_ms": NOW - 600_000, "data": {"to": "lte"}},
          {"kind": "uplink_trouble", "ts_ms": NOW - 500_000, "data": {"uplink": "lte",
                                                                     "trouble": "loss"}}]
    # the problem starts with the event that began it, not with the session (online_since)
    began = fleet.state_event("backup", v, ev)
    assert began is not None and began["ts_ms"] == NOW - 600_000
    v["since"] = began["ts_ms"]
    line = root_cause("en", v, ev)
    assert line == f"Primary uplink fibre down since {wib(NOW - 600_000)}, on lte."
    assert root_cause("id", v, ev).startswith("Jalur utama fibre mati sejak")
    # a recovery after the last beginning: no event tells when this began
    assert fleet.state_event("backup", v, ev[:2]) is None
    off = fleet.node_view(_row(online=0, offline_since_ms=NOW, last_seen_ms=NOW,
                               last_sample_ms=NOW - 5000), "fibre", set())
    assert root_cause("id", off, []) == t("id", "cause.offline", t=wib(NOW), seen=wib(NOW - 5000))
    # a throttle besides a worse problem is named too, with who set it and until when
    thr = fleet.node_view(_row(active_uplink="lte", throttle_down_kbps=2500,
                               throttle_up_kbps=1000), "fibre", set())
    thr["since"] = NOW - 600_000
    set_ev = {"kind": "throttle", "ts_ms": NOW - 60_000,
              "data": {"kind": "set_throttle", "version": 7,
                       "params": {"down_kbps": 2500, "up_kbps": 1000, "lease_s": 3600}}}
    cmds = {7: {"cmd_id": "c-7", "origin": "operator", "issued_by": "sari"}}
    line = root_cause("id", thr, [*ev, set_ev], cmds)
    assert "Dibatasi ke 2,5 Mbit/s turun / 1 Mbit/s naik" in line and "operator sari" in line
    assert f"sampai {wib(NOW - 60_000 + 3600_000)}" in line


def test_series_are_downsampled_per_range(tmp_path: Path) -> None:
    storage = open_db(tmp_path / "c.db")
    try:
        fill(storage, [("n1", "s1")], samples_per_node=0, now_ms=NOW)
        samples = [sample(i + 1, NOW - 3600_000 + i * 2000, users=i % 10) for i in range(1800)]
        storage.write([Incoming("s1", "n1", Tele.model_validate(
            {"site": "s1", "node": "n1", "ts_ms": NOW, "session": 1, "seq": 1,
             "samples": samples}), NOW)])
        one_hour = series.node_series(storage, "n1", "1h", NOW)
        assert 300 <= len(one_hour["t"]) <= 361  # 1800 samples -> 10-second buckets
        assert one_hour["uplinks"] == ["fibre", "lte"]
        assert set(one_hour["rtt"]["fibre"]) == {18.0}
        assert one_hour["rx"][0] == 20.0  # Mbit/s
        day = series.node_series(storage, "n1", "24h", NOW)
        assert len(day["t"]) <= 13  # the hour of data in 5-minute buckets
        assert abs(sum(day["users"]) / len(day["users"]) - 4.5) < 0.6
    finally:
        storage.close()


def test_budget_p95_peak_and_idle_hours(tmp_path: Path) -> None:
    storage = open_db(tmp_path / "c.db")
    try:
        fill(storage, [("n1", "s1"), ("n2", "s1")], samples_per_node=0, now_ms=NOW)
        # two nodes of one site, 3 hours: hour 1 busy (30+30 Mbit/s), hours 2-3 nearly idle
        for node in ("n1", "n2"):
            smp = [sample(i + 1, NOW - 3 * 3600_000 + i * 60_000,
                          rx_bps=30e6 if i < 60 else 1e6) for i in range(180)]
            storage.write([Incoming("s1", node, Tele.model_validate(
                {"site": "s1", "node": node, "ts_ms": NOW, "session": 1, "seq": 1,
                 "samples": smp}), NOW)])
        rows = budget.compute(storage, {"s1": {"name": "Site 1", "kind": "office",
                                               "capacity_mbps": 100}}, 1, False, NOW)
        assert len(rows) in (1, 2)  # the 3 hours may straddle midnight WIB
        peak = max(r["peak_mbps"] for r in rows)
        assert peak == 60.0  # the two nodes add up
        assert sum(r["idle_hours"] for r in rows) >= 2  # 2 Mbit/s < 10 % of 100
        month = budget.compute(storage, {"s1": {"capacity_mbps": 100}}, 1, True, NOW)
        assert len(month) == 1 and month[0]["p95_mbps"] == 60.0
        assert month[0]["p95_pct"] == 60.0
        # the period report (the page, the CSV and reports such as a weekly e-mail use it)
        rep = budget.period_report(storage, {"s1": {"name": "Site 1", "capacity_mbps": 100,
                                                    "cost_month": 1_000_000},
                                             "s2": {"name": "Site 2", "capacity_mbps": 50}},
                                   NOW - 86400_000, NOW)
        assert [r["site"] for r in rep["rows"]] == ["s1", "s2"]  # no data: last
        s1, s2 = rep["rows"]
        assert list(s1) == budget.REPORT_FIELDS
        assert (s1["p95_mbps"], s1["waste_mbps"], s1["use_pct"]) == (60.0, 40.0, 60)
        assert s1["unused_cost_month"] == 400_000 and s1["flags"] == []  # 3 h, not 4 weeks
        assert s2["flags"] == ["no_data"] and rep["totals"]["capacity_mbps"] == 150
    finally:
        storage.close()


def test_settings_from_environment() -> None:
    s = NocSettings.from_env({"KOTANET_NOC_TILE_URL": "https://tiles.example/{z}/{x}/{y}.png",
                              "KOTANET_NOC_SECURE_COOKIES": "true"})
    assert s.tile_url == "https://tiles.example/{z}/{x}/{y}.png" and s.secure_cookies
    assert NocSettings.from_env({}).tile_url is None  # keep the admin's stored setting


def test_state_start_is_the_event_not_the_session_and_survives_a_reconnect(
        tmp_path: Path) -> None:
    from noc_helpers import _birth

    from central.clock import wall_ms
    from central.noc.context import Noc
    from central.noc.live import Hub
    from central.noc.store import NocStore
    from protocol.messages import NodeState

    db = tmp_path / "c.db"
    storage = open_db(db)
    store = NocStore(db)
    try:
        now = wall_ms()
        fill(storage, [("n1", "s1")], backup={"n1"}, now_ms=now)
        began = now - 25_000  # the failover event, after the session began (now - 60 s)
        storage.write([Incoming("s1", "n1", Tele.model_validate(
            {"site": "s1", "node": "n1", "ts_ms": now, "session": 1, "seq": 50, "samples": [],
             "events": [{"ts_ms": began, "kind": "failover", "severity": "warning",
                         "message": "failover: fibre -> lte",
                         "data": {"from": "fibre", "to": "lte"}}]}), now)])
        hub = Hub(Noc(NocSettings(), store, storage, 60_000, None))
        v = hub.compute()["n1"]
        assert v["state"] == "backup" and v["since"] == began and v["since_ev"] == began
        assert storage.list_nodes()[0]["online_since_ms"] != began
        # a reconnect (new session, still on backup): the start stays the event's
        storage.write([Incoming("s1", "n1", NodeState.model_validate(
            {"site": "s1", "node": "n1", "ts_ms": now + 1, "online": False, "session": 1}),
            now + 1), Incoming("s1", "n1", _birth("s1", "n1", 2, now + 2), now + 2),
            Incoming("s1", "n1", Tele.model_validate(
                {"site": "s1", "node": "n1", "ts_ms": now + 3, "session": 2, "seq": 60,
                 "samples": [sample(60, now + 3, "lte")]}), now + 3)])
        assert storage.list_nodes()[0]["online_since_ms"] == now + 2
        assert hub.compute()["n1"]["since"] == began
        # offline: the start is central's presence record of it
        storage.write([Incoming("s1", "n1", NodeState.model_validate(
            {"site": "s1", "node": "n1", "ts_ms": now + 9, "online": False, "session": 2}),
            now + 9)])
        off = hub.compute()["n1"]
        assert off["state"] == "offline" and off["since"] == now + 9
        assert hub.compute()["n1"]["since"] == now + 9  # unchanged on the next look
        # central's record of each change, kept as events (once each)
        hub.compute()
        assert [(e["kind"], e["ts_ms"]) for e in hub.presence.events("n1", 0)] == [
            ("online", now - 60_000), ("online", now + 2), ("offline", now + 9)]
    finally:
        hub.close()
        store.close()
        storage.close()


def test_a_throttle_event_newer_than_the_sample_is_the_truth() -> None:
    v = fleet.node_view(_row(last_sample_ms=NOW - 10_000), "fibre", set())
    assert v["state"] == "ok"
    set_ev = {"kind": "throttle", "ts_ms": NOW - 2_000,
              "data": {"kind": "set_throttle", "version": 3,
                       "params": {"down_kbps": 4000, "up_kbps": 2000}}}
    line = root_cause("en", v, [set_ev], {3: {"cmd_id": "c", "origin": "policy",
                                              "issued_by": ""}})
    assert "Throttled to 4 Mbit/s down / 2 Mbit/s up" in line
    assert "central's automatic policy" in line
    thr = fleet.node_view(_row(last_sample_ms=NOW - 10_000, throttle_down_kbps=4000), "fibre",
                          set())
    clear = {"kind": "throttle", "ts_ms": NOW - 1_000, "data": {"kind": "clear_throttle"}}
    assert root_cause("en", thr, [set_ev, clear]) == "All normal."
