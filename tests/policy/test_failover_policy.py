"""Table-driven tests of the pure failover state machine (agent/policy/failover.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from agent.policy.failover import FailoverDecision, FailoverPolicy, LinkRound, Params, State

WAN, LTE = "wan", "lte"
OK = LinkRound(WAN, carrier=True, replies=2, probed=2, rtt_ms=12.0, loss_pct=0.0)
SILENT = LinkRound(WAN, carrier=True, replies=0, probed=2, loss_pct=100.0)
UNREACH = LinkRound(WAN, carrier=True, replies=0, probed=2, unreachable=True)
CUT = LinkRound(WAN, carrier=False)


def lossy(pct: int) -> LinkRound:
    """A round of 10 echo requests with ``pct`` % of them unanswered."""
    return LinkRound(WAN, carrier=True, replies=10 - pct // 10, probed=10, loss_pct=float(pct))


@dataclass
class Run:
    """Timeline of one scenario: active uplink after each second, and all events."""

    active: dict[int, str | None] = field(default_factory=dict)
    events: list[tuple[int, str, dict[str, object]]] = field(default_factory=list)

    def switches(self) -> list[tuple[int, str]]:
        """(second, kind) of every change of the active uplink."""
        kinds = ("failover", "failback", "manual_switch")
        return [(t, k) for t, k, _ in self.events if k in kinds]

    def first(self, kind: str) -> int | None:
        """Second of the first event of this kind."""
        return next((t for t, k, _ in self.events if k == kind), None)


def simulate(wan: Callable[[int], LinkRound], seconds: int, params: Params | None = None,
             carrier: dict[int, bool] | None = None,
             commands: dict[int, tuple[str, float | None]] | None = None) -> Run:
    """One probe round per second for both uplinks; LTE always healthy."""
    pol = FailoverPolicy([WAN, LTE], params or Params())
    run = Run()

    def log(t: int, d: FailoverDecision) -> None:
        run.events.extend((t, e.kind, e.data) for e in d.events)
        run.active[t] = d.active

    for t in range(seconds):
        if carrier and t in carrier:
            log(t, pol.carrier(float(t), WAN, carrier[t]))
        if commands and t in commands:
            kind, timeout = commands[t]
            log(t, pol.force(float(t), kind, timeout_s=timeout))
        lte = LinkRound(LTE, carrier=True, replies=2, probed=2, rtt_ms=40.0)
        log(t, pol.observe(float(t), [wan(t), lte]))
    return run


def after(t0: int, bad: LinkRound, t1: int = 10**9) -> Callable[[int], LinkRound]:
    """Primary healthy, then ``bad`` from second t0 until t1, healthy again afterwards."""
    return lambda t: bad if t0 <= t < t1 else OK


# scenario, primary behaviour, seconds, expected second of failover, expected reason
FAILURES = [
    ("soft failure (carrier up, no replies)", after(10, SILENT), 20, 12, "no_replies"),
    ("ICMP unreachable", after(10, UNREACH), 20, 12, "unreachable"),
    ("30% loss", after(10, lossy(30)), 20, 12, "loss 30%"),
    ("60% loss", after(10, lossy(60)), 20, 12, "loss 60%"),
]


@pytest.mark.parametrize("name,wan,seconds,at,reason", FAILURES, ids=[f[0] for f in FAILURES])
def test_failure_moves_to_backup_after_n_of_m(name: str, wan: Callable[[int], LinkRound],
                                              seconds: int, at: int, reason: str) -> None:
    run = simulate(wan, seconds)
    assert run.active[at - 1] == WAN, "hysteresis: not before down_failures bad rounds"
    assert run.active[at] == LTE
    assert run.switches() == [(at, "failover")]
    down = [d for t, k, d in run.events if k == "uplink_down"]
    assert down and down[0]["reason"] == reason
    assert down[0]["rounds"], "probe evidence travels with the event"


def test_clean_cut_is_immediate_on_carrier_event() -> None:
    run = simulate(after(10, CUT), 15, carrier={10: False})
    assert run.active[9] == WAN and run.active[10] == LTE
    assert run.switches() == [(10, "failover")]
    assert [d["reason"] for _, k, d in run.events if k == "uplink_down"] == ["carrier"]


@pytest.mark.parametrize("pattern", [
    pytest.param(lambda t: lossy(10) if t % 3 == 0 else OK, id="10% loss every third round"),
    pytest.param(lambda t: SILENT if t % 4 == 0 else OK, id="one lost round in four"),
    pytest.param(lambda t: lossy(20) if t % 2 else OK, id="20% loss every other round"),
])
def test_minor_trouble_does_not_fail_over(pattern: Callable[[int], LinkRound]) -> None:
    run = simulate(pattern, 60)
    assert run.switches() == []
    assert set(run.active.values()) == {WAN}


@pytest.mark.parametrize("stable", [2.0, 5.0, 30.0])
def test_failback_only_after_stable_window(stable: float) -> None:
    run = simulate(after(10, SILENT, 20), 60, Params(stable_window_s=stable))
    back = 20 + int(stable)
    assert run.active[back - 1] == LTE, "still on backup inside the stable window"
    assert run.active[back] == WAN
    assert run.switches() == [(12, "failover"), (back, "failback")]
    assert run.first("uplink_up") == back


def test_failure_during_recovery_restarts_stable_window() -> None:
    wan = lambda t: SILENT if 10 <= t < 20 or t == 25 else OK  # noqa: E731
    run = simulate(wan, 70, Params(stable_window_s=30))
    assert run.active[55] == LTE  # 20+30 would have been enough without the bad round at 25
    assert run.active[56] == WAN  # 26 + 30
    assert [k for _, k in run.switches()] == ["failover", "failback"]


def test_flapping_line_holds_backup() -> None:
    """Carrier toggling every 3 s: one failover, a flapping event, no failback."""
    def flap(t: int) -> LinkRound:
        return CUT if (t // 3) % 2 == 1 else OK
    carrier = {t: (t // 3) % 2 == 0 for t in range(3, 120, 3)}
    run = simulate(flap, 120, Params(), carrier=carrier)
    assert run.switches() == [(3, "failover")]
    assert run.first("flapping") is not None


def test_flap_hold_bounds_switches_even_with_a_short_stable_window() -> None:
    def flap(t: int) -> LinkRound:
        return CUT if (t // 4) % 2 == 1 else OK
    carrier = {t: (t // 4) % 2 == 0 for t in range(4, 200, 4)}
    held = simulate(flap, 200, Params(stable_window_s=2, flap_threshold=3), carrier=carrier)
    naive = simulate(flap, 200, Params(stable_window_s=2, flap_threshold=10**6), carrier=carrier)
    assert len(naive.switches()) > 40  # a switch on every edge without flap detection
    assert len(held.switches()) <= 3
    assert held.first("flapping") is not None and held.active[199] == LTE


def test_flapping_ends_and_failback_follows_when_line_settles() -> None:
    def flap(t: int) -> LinkRound:
        return CUT if t < 30 and (t // 3) % 2 == 1 else OK
    carrier = {t: (t // 3) % 2 == 0 for t in range(3, 30, 3)}
    p = Params(stable_window_s=5, flap_window_s=20, flap_threshold=3)
    run = simulate(flap, 90, p, carrier=carrier)
    ended = run.first("flapping_ended")
    assert run.first("flapping") is not None and ended is not None
    assert [k for _, k in run.switches()] == ["failover", "failback"]
    assert run.switches()[1][0] >= ended


@pytest.mark.parametrize("kind,start,target", [("failover", WAN, LTE)])
def test_manual_override_and_its_timeout(kind: str, start: str, target: str) -> None:
    run = simulate(lambda t: OK, 40, Params(manual_timeout_s=15), commands={5: (kind, None)})
    assert run.active[4] == start and run.active[5] == target and run.active[19] == target
    assert run.active[20] == start, "override lapses after manual_timeout_s"
    assert [k for _, k in run.switches()] == ["manual_switch", "failback"]
    assert [d["kind"] for _, k, d in run.events if k == "manual_override"] == [kind, "expired"]


def test_manual_failback_skips_stable_window_and_auto_clears() -> None:
    cmds: dict[int, tuple[str, float | None]] = {22: ("failback", 100.0), 30: ("auto", None)}
    run = simulate(after(10, SILENT, 20), 40, Params(stable_window_s=30), commands=cmds)
    assert run.active[21] == LTE and run.active[22] == WAN
    assert run.active[30] == WAN, "clearing the override causes no needless switch"
    assert run.first("manual_override") == 22


def test_manual_override_to_a_down_uplink_is_not_honoured() -> None:
    run = simulate(after(5, SILENT), 30, commands={20: ("failback", 60.0)})
    assert all(run.active[t] == LTE for t in range(7, 30))


def test_states_and_all_down() -> None:
    pol = FailoverPolicy([WAN, LTE], Params(stable_window_s=10))
    assert pol.observe(0, [OK]).active == WAN
    pol.observe(1, [SILENT])
    assert pol.state(WAN) == State.DEGRADED
    d = pol.carrier(2, LTE, False)
    assert d.active == WAN and pol.state(LTE) == State.DOWN
    d = pol.carrier(3, WAN, False)
    assert d.active == WAN and not d.changed, "nothing alive: keep the route we have"
    pol.observe(4, [OK])
    assert pol.state(WAN) == State.RECOVERING
    with pytest.raises(ValueError):
        pol.force(5, "sideways")
