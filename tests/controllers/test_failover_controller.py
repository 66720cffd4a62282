"""FailoverController glue with a recording actuator: events, hooks, failures, carrier path."""

from __future__ import annotations

import struct
import time
from typing import Any

import pytest

from agent.actuators.routes import ApplyResult, LinkWatcher
from agent.config import parse_config
from agent.controllers.failover import FailoverController, to_round
from agent.policy.failover import LinkRound, State


class FakeActuator:
    """Records switches; can be told to fail."""

    def __init__(self, current: str | None = None, fail: bool = False) -> None:
        self.route = current
        self.fail = fail
        self.applied: list[str] = []

    def setup(self) -> None:
        """Nothing to prepare."""

    def current(self) -> str | None:
        """The uplink the fake route points at."""
        return self.route

    def apply(self, name: str) -> ApplyResult:
        """Switch unless told to fail (then the route is unchanged, as after a rollback)."""
        self.applied.append(name)
        if self.fail:
            return ApplyResult(False, name, self.route, "verify failed", rolled_back=True)
        prev, self.route = self.route, name
        return ApplyResult(True, name, prev, "ok", flushed=3, duration_ms=12.5)


def make(act: FakeActuator, **failover: Any) -> tuple[FailoverController, list[float]]:
    cfg = parse_config({"node": {"id": "n1", "site": "s1"},
                        "failover": {"enabled": True, "stable_window_s": 10, **failover},
                        "uplinks": [{"name": "lte", "iface": "wwan0", "priority": 5},
                                    {"name": "fibre", "iface": "eth1", "priority": 0}]})
    now = [100.0]
    ctl = FailoverController(cfg, act, clock=lambda: now[0], wall=lambda: 1_700_000_000.0)
    return ctl, now


def silent(name: str = "fibre") -> LinkRound:
    return LinkRound(name, carrier=True, replies=0, probed=2)


def test_fresh_start_takes_the_preferred_uplink_by_priority() -> None:
    act = FakeActuator()
    ctl, _ = make(act)
    events = ctl.start(watch_links=False)
    assert act.applied == ["fibre"] and ctl.active == "fibre"
    assert [e.kind for e in events] == ["initial"]


def test_restart_on_backup_does_not_fail_back_before_stable_window() -> None:
    act = FakeActuator(current="lte")
    ctl, now = make(act)
    ctl.start(watch_links=False)
    assert act.applied == [] and ctl.policy.state("fibre") == State.RECOVERING
    good = LinkRound("fibre", carrier=True, replies=2, probed=2)
    for t in range(100, 112):
        now[0] = float(t)
        ctl.on_round(now[0], [good])
    assert act.applied == ["fibre"]


def test_carrier_loss_switches_reports_evidence_and_calls_hooks() -> None:
    act = FakeActuator()
    ctl, now = make(act)
    ctl.start(watch_links=False)
    seen: list[tuple[str | None, str]] = []
    ctl.add_switch_hook(lambda old, new, res: seen.append((old, new)))

    def broken(old: str | None, new: str, res: ApplyResult) -> None:
        raise RuntimeError("a broken hook must not stop the switch")
    ctl.add_switch_hook(broken)
    assert ctl.on_carrier("wlan9", False, now[0]) == []
    events = ctl.on_carrier("eth1", False, now[0])
    assert act.route == "lte" and seen == [("fibre", "lte")]
    assert ctl.states() == {"fibre": "down", "lte": "up"}
    fo = next(e for e in events if e.kind == "failover")
    assert fo.ts_ms == 1_700_000_000_000 and fo.severity == "warning"
    assert fo.data["switch_ms"] == 12.5 and fo.data["flushed"] == 3
    assert fo.data["evidence"]["fibre"]["reason"] == "carrier"


def test_failed_switch_keeps_the_actual_route_and_says_so() -> None:
    act = FakeActuator(current="fibre", fail=True)
    ctl, now = make(act)
    ctl.start(watch_links=False)
    events: list[Any] = []
    for t in range(3):
        events += ctl.on_round(now[0] + t, [silent()])
    assert ctl.active == "fibre", "policy follows what the kernel really has"
    bad = [e for e in events if e.kind == "failover_failed"]
    assert bad and bad[0].severity == "critical" and bad[0].data["rolled_back"]
    act.fail = False
    ctl.on_round(now[0] + 4, [silent()])
    assert act.route == "lte", "retried on the next round"


def test_force_and_watcher_events_are_drained() -> None:
    act = FakeActuator()
    ctl, _ = make(act, manual_timeout_s=60)
    ctl.start(watch_links=False)
    kinds = [e.kind for e in ctl.force("failover")]
    assert kinds == ["manual_override", "manual_switch"] and act.route == "lte"
    with pytest.raises(ValueError):
        ctl.force("failover", target="nope")
    ctl._carrier_cb("wwan0", False)  # as the watcher thread would
    drained = ctl.drain()
    assert "uplink_down" in [e.kind for e in drained] and ctl.drain() == []


def test_to_round_accepts_sample_dicts() -> None:
    r = to_round({"name": "fibre", "up": True, "loss_pct": 40.0, "rtt_ms": 9.0})
    assert (r.probed, r.replies, r.failure(25.0)) == (100, 60, "loss 40%")
    assert to_round({"name": "fibre", "up": False}).failure() == "carrier"


def test_link_watcher_parses_rtnetlink_link_messages() -> None:
    def msg(mtype: int, flags: int, name: bytes) -> bytes:
        attr = struct.pack("HH", 4 + len(name) + 1, 3) + name + b"\0"
        attr += b"\0" * (-len(attr) % 4)
        body = struct.pack("BxHiII", 0, 1, 7, flags, 0) + attr
        return struct.pack("IHHII", 16 + len(body), mtype, 0, 0, 0) + body

    w = LinkWatcher.__new__(LinkWatcher)
    buf = msg(16, 0x1 | 0x10000, b"eth1") + msg(16, 0x1, b"wwan0") + msg(17, 0x10001, b"eth2")
    assert w.parse(buf) == [("eth1", True), ("wwan0", False), ("eth2", False)]


def test_probe_thread_probes_standby_lte_slowly_and_active_fast() -> None:
    cfg = parse_config({"node": {"id": "n1", "site": "s1"}, "failover": {"enabled": True},
                        "uplinks": [{"name": "fibre", "iface": "eth1", "probe_interval_s": 0.1},
                                    {"name": "lte", "iface": "wwan0", "kind": "lte",
                                     "priority": 5, "probe_interval_s": 0.1,
                                     "standby_probe_interval_s": 60}]})
    act = FakeActuator()
    ctl = FailoverController(cfg, act)
    calls = {"fibre": 0, "lte": 0}

    def probe(name: str, ok: bool) -> LinkRound:
        calls[name] += 1
        return LinkRound(name, carrier=True, replies=2 if ok else 0, probed=2)

    ctl.start(watch_links=False)
    fibre_ok = [True]
    ctl.start_probing({"fibre": lambda: probe("fibre", fibre_ok[0]),
                       "lte": lambda: probe("lte", True)})
    try:
        time.sleep(1.0)
        assert calls["fibre"] >= 5 and calls["lte"] == 1, calls
        fibre_ok[0] = False  # fibre dies silently: the thread fails over; LTE is now probed fast
        for _ in range(100):
            if act.route == "lte":
                break
            time.sleep(0.05)
        lte_before = calls["lte"]
        time.sleep(0.6)
        assert act.route == "lte" and calls["lte"] >= lte_before + 3
        assert "failover" in [e.kind for e in ctl.drain()]
    finally:
        ctl.stop()


def test_route_removed_behind_our_back_is_restored_on_the_next_round() -> None:
    act = FakeActuator()
    ctl, now = make(act)
    ctl.start(watch_links=False)
    act.route = None  # e.g. an admin or a network manager flushed our table
    good = LinkRound("fibre", carrier=True, replies=2, probed=2)
    events = ctl.on_round(now[0], [good])
    assert act.route == "fibre" and [e.kind for e in events] == ["route_restored"]
    assert ctl.on_round(now[0] + 1, [good]) == []



class ExplodingActuator(FakeActuator):
    """current() raises like a netlink socket that went away."""

    def current(self) -> str | None:
        """Always fails."""
        raise OSError("netlink went away")


def test_probe_thread_survives_rounds_whose_route_read_fails() -> None:
    """A round that raises (netlink error) is logged; failover keeps probing afterwards."""
    cfg = parse_config({"node": {"id": "n1", "site": "s1"}, "failover": {"enabled": True},
                        "uplinks": [{"name": "fibre", "iface": "eth1", "probe_interval_s": 0.05}]})
    ctl = FailoverController(cfg, ExplodingActuator(), clock=time.monotonic)
    rounds: list[float] = []

    def probe() -> LinkRound:
        rounds.append(time.monotonic())
        return silent()

    ctl.start_probing({"fibre": probe})
    try:
        deadline = time.monotonic() + 5
        while len(rounds) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(rounds) >= 4, "the prober died after a failing round"
    finally:
        ctl.stop()
