"""Incident correlation on recorded streams: rules (central.alerts.rules) then incidents.

Each stream is a list of per-node sample timelines; the harness plays it every 10 s through the
real rules with hysteresis, keeps the active alerts as the alerts table would, and correlates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from central.alerts.incidents import (
    ActiveAlert,
    Book,
    Event,
    Incident,
    IncidentConfig,
    SiteInfo,
    Window,
    acknowledge,
    correlate,
)
from central.alerts.model import AlertConfig, AlertState, LiveSample, NodeInputs, Opened
from central.alerts.rules import evaluate

T0 = 1_800_000_000_000
STEP = 10_000
CFG = AlertConfig()
ICFG = IncidentConfig(settle_s=60, resolve_hold_s=300)
SITE = "taman-kota"
SITES = {SITE: SiteInfo("isp-a", "Telkom Astinet A", "park"),
         "kantor-dinas": SiteInfo("isp-b", "ISP B", "office")}
NODES = [f"tk-{i:02d}" for i in range(1, 8)]

#: (node, now_ms) -> (online, active uplink or None for no sample, historical?)
Script = Callable[[str, int], tuple[bool, str | None, bool]]


@dataclass
class Run:
    book: Book = field(default_factory=dict)
    resolved: list[Incident] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    opened_alerts: list[Opened] = field(default_factory=list)

    def notifies(self) -> list[tuple[str, str]]:
        return [(e.key, e.detail["state"]) for e in self.events if e.kind == "notify"]

    def incidents(self) -> list[Incident]:
        return [*self.resolved, *self.book.values()]


def play(script: Script, nodes: Sequence[str], until_ms: int, windows: Sequence[Window] = (),
         site: str = SITE, cfg: AlertConfig = CFG) -> Run:
    run = Run()
    state: AlertState = {}
    active: dict[tuple[str, str], ActiveAlert] = {}
    history: dict[str, list[LiveSample]] = {n: [] for n in nodes}
    offline_since: dict[str, int | None] = dict.fromkeys(nodes)
    next_id = 1
    for now in range(T0, until_ms + 1, STEP):
        inputs = []
        for n in nodes:
            online, up, historical = script(n, now)
            if online:
                offline_since[n] = None
                if up is not None:
                    # a replaying node sends records stamped a day ago, received now
                    ts = now - 86_400_000 if historical else now - 1000
                    history[n].append(LiveSample(ts, now, historical, up, 20.0, 0.0))
            elif offline_since[n] is None:
                offline_since[n] = now
            fresh = [s for s in history[n] if s.received_ms >= now - 120_000]
            last_seen = max((s.received_ms for s in history[n]), default=None)
            inputs.append(NodeInputs(n, site, online, offline_since[n], last_seen if online
                                     else (last_seen or now), False, "wan1", tuple(fresh)))
        actions, state = evaluate(inputs, state, now, cfg)
        for a in actions:
            if isinstance(a, Opened):
                active[(a.node, a.kind)] = ActiveAlert(next_id, a.node, a.site, a.kind,
                                                       a.severity, a.opened_ms)
                run.opened_alerts.append(a)
                next_id += 1
            else:
                active.pop((a.node, a.kind), None)
        run.book, resolved, events = correlate(list(active.values()), run.book, windows,
                                               SITES, now, ICFG)
        run.resolved += resolved
        run.events += events
    return run


FAIL, BACK = T0 + 300_000, T0 + 1_500_000


def upstream_failure(node: str, now: int) -> tuple[bool, str | None, bool]:
    # the shared upstream fails at FAIL: every node fails over within 40 s, back at BACK
    skew = NODES.index(node) * 6000 if node in NODES else 0
    return True, "lte" if FAIL + skew <= now < BACK else "wan1", False


def test_seven_nodes_on_backup_after_shared_upstream_failure_are_one_incident() -> None:
    run = play(upstream_failure, NODES, BACK + 600_000)
    assert len([a for a in run.opened_alerts if a.kind == "backup_uplink"]) == 7
    assert len(run.incidents()) == 1
    inc = run.incidents()[0]
    assert inc.key == "upstream:isp-a"
    assert sorted(m.node for m in inc.members) == NODES
    assert inc.cause == {"key": "upstream_down", "upstream": "Telkom Astinet A", "site": SITE,
                         "nodes": 7, "offline": 0}
    assert inc.state == "resolved"  # resolved by itself after the upstream came back
    # exactly one opening message (sent after all 7 joined) and one resolution
    assert run.notifies() == [("upstream:isp-a", "opened"), ("upstream:isp-a", "resolved")]
    opened_at = next(e.at_ms for e in run.events if e.kind == "notify")
    assert all(m.opened_ms <= opened_at for m in inc.members)


def flapping(node: str, now: int) -> tuple[bool, str | None, bool]:
    # offline for 3 minutes, online for 3 minutes, five times
    phase = (now - T0) // 180_000
    return (phase % 2 == 0 or phase >= 10), "wan1", False


def test_flapping_node_is_one_incident() -> None:
    run = play(flapping, ["tk-01"], T0 + 3_000_000)
    offline = [a for a in run.opened_alerts if a.kind == "offline"]
    assert len(offline) >= 3  # the rules did open and resolve the alert several times
    assert len(run.incidents()) == 1
    inc = run.incidents()[0]
    assert inc.key == "node:tk-01" and inc.flaps == len(offline) - 1
    assert inc.cause["key"] == "node_offline" and inc.cause["flaps"] == inc.flaps
    assert run.notifies() == [("node:tk-01", "opened"), ("node:tk-01", "resolved")]


def test_offline_node_folds_its_uplink_alerts_into_one_incident() -> None:
    # offline for 12 minutes, then back on its LTE backup for 4 minutes: the backup alert
    # opens while the offline alert is still clearing and joins the node's incident suppressed
    def script(node: str, now: int) -> tuple[bool, str | None, bool]:
        if T0 + 200_000 <= now < T0 + 900_000:
            return False, None, False
        return True, "lte" if T0 + 900_000 <= now < T0 + 1_140_000 else "wan1", False
    run = play(script, ["tk-03"], T0 + 1_800_000, cfg=AlertConfig(backup_s=30.0))
    assert sorted(a.kind for a in run.opened_alerts) == ["backup_uplink", "offline"]
    assert len(run.incidents()) == 1
    inc = run.incidents()[0]
    assert inc.key == "node:tk-03" and inc.cause["key"] == "node_offline"
    assert [(m.kind, m.suppressed) for m in inc.members] == [("offline", False),
                                                             ("backup_uplink", True)]
    assert inc.cause["suppressed"] == 1
    assert run.notifies() == [("node:tk-03", "opened"), ("node:tk-03", "resolved")]


def test_offline_and_active_backup_alert_become_one_incident_with_suppressed_member() -> None:
    active = [ActiveAlert(1, "tk-05", SITE, "offline", "critical", T0),
              ActiveAlert(2, "tk-05", SITE, "backup_uplink", "warning", T0),
              ActiveAlert(3, "tk-05", SITE, "delivery_gap", "warning", T0)]
    book, _, _ = correlate(active, {}, [], SITES, T0, ICFG)
    assert list(book) == ["node:tk-05"]
    inc = book["node:tk-05"]
    assert [(m.kind, m.suppressed) for m in inc.members] == [
        ("offline", False), ("backup_uplink", True), ("delivery_gap", True)]
    assert inc.severity == "critical" and inc.cause["suppressed"] == 2


def replayed_day(node: str, now: int) -> tuple[bool, str | None, bool]:
    # a node back from a long outage replays a day of records: backup, then primary, all old
    return True, "lte" if (now // 60_000) % 3 else "wan1", True


def test_replayed_day_opens_nothing() -> None:
    run = play(replayed_day, NODES, T0 + 3_600_000)
    assert run.opened_alerts == [] and run.incidents() == [] and run.events == []


def test_alert_in_maintenance_window_notifies_nobody() -> None:
    window = Window(1, T0, BACK + 60_000, site=SITE, note="ISP works")
    run = play(upstream_failure, NODES, BACK + 600_000, windows=[window])
    assert len(run.incidents()) == 1
    inc = run.incidents()[0]
    assert all(m.in_maintenance for m in inc.members)
    assert run.notifies() == []
    opened = next(e for e in run.events if e.kind == "opened")
    assert opened.detail["maintenance"] is True
    # the same failure with a window on another site is announced
    other = Window(2, T0, BACK + 60_000, site="kantor-dinas")
    assert play(upstream_failure, NODES, BACK + 600_000, windows=[other]).notifies() == [
        ("upstream:isp-a", "opened"), ("upstream:isp-a", "resolved")]


def test_incident_outliving_its_window_is_announced_then() -> None:
    window = Window(1, T0, FAIL + 400_000, node="tk-01")
    run = play(upstream_failure, ["tk-01"], BACK + 600_000, windows=[window])
    kinds = [e.kind for e in run.events]
    assert "maintenance_ended" in kinds
    assert [s for _, s in run.notifies()] == ["opened", "resolved"]
    ended = next(e.at_ms for e in run.events if e.kind == "maintenance_ended")
    assert next(e.at_ms for e in run.events if e.kind == "notify") >= ended


def test_escalation_notifies_again_and_ack_is_recorded() -> None:
    a1 = ActiveAlert(1, "tk-01", SITE, "disk_full", "warning", T0)
    book, _, ev = correlate([a1], {}, [], SITES, T0, ICFG)
    book, _, ev = correlate([a1], book, [], SITES, T0 + 60_000, ICFG)
    assert [e.detail["state"] for e in ev if e.kind == "notify"] == ["opened"]
    inc, ack = acknowledge(book["node:tk-01"], "ops", "replacing the SD card", T0 + 70_000)
    assert inc.state == "acknowledged" and ack is not None
    assert (inc.acked_by, inc.ack_note) == ("ops", "replacing the SD card")
    book["node:tk-01"] = inc
    a2 = ActiveAlert(2, "tk-01", SITE, "temperature", "critical", T0 + 80_000)
    book, _, ev = correlate([a1, a2], book, [], SITES, T0 + 80_000, ICFG)
    assert [(e.detail["state"], e.detail["severity"]) for e in ev if e.kind == "notify"] == [
        ("escalated", "critical")]
    # nothing more while it stays the same
    book, _, ev = correlate([a1, a2], book, [], SITES, T0 + 90_000, ICFG)
    assert [e for e in ev if e.kind == "notify"] == []


PARK_NODES = [f"tp-{i:02d}" for i in range(1, 6)]


def unreachable(node: str, now: int) -> tuple[bool, str | None, bool]:
    # a park without a backup line: its upstream fails and the five nodes drop off the
    # broker within 40 s of each other, all back 15 minutes later
    skew = PARK_NODES.index(node) * 10_000
    return not (FAIL + skew <= now < BACK), "wan1", False


def test_several_nodes_offline_behind_one_upstream_are_one_incident() -> None:
    run = play(unreachable, PARK_NODES, BACK + 600_000)
    assert len([a for a in run.opened_alerts if a.kind == "offline"]) == 5
    stored = [i for i in run.incidents() if "merged" not in
              {e.kind for e in run.events if e.key == i.key}]
    assert [i.key for i in stored] == ["upstream:isp-a"]
    inc = stored[0]
    assert sorted(m.node for m in inc.members) == PARK_NODES
    assert inc.cause == {"key": "upstream_unreachable", "upstream": "Telkom Astinet A",
                         "site": SITE, "nodes": 5}
    assert run.notifies() == [("upstream:isp-a", "opened"), ("upstream:isp-a", "resolved")]
