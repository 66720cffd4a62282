"""The simulator's fake tc behind the real ShapingController: plans, diffs, verify, lease, caps."""

from __future__ import annotations

from collections.abc import Sequence

from agent.config import ShapingSection
from agent.controllers.shaping import ShapingController, lease_tick
from agent.policy.shaping import DevOp
from agent.sim.faketc import FakeTc
from agent.sim.fleet import build_fleet
from agent.sim.model import NodeModel, sim_probes

CLIENTS = ["10.77.0.11", "10.77.0.12"]
SATURDAY_19_WIB = 1_717_243_200.0  # 2024-06-01 12:00 UTC
PARAMS = {"down_kbps": 4000, "up_kbps": 2000, "per_client_down_kbps": 1000,
          "per_client_up_kbps": 500}


def _ctl(kernel: FakeTc | None = None) -> tuple[ShapingController, FakeTc]:
    kernel = kernel or FakeTc()
    return ShapingController(ShapingSection(), kernel), kernel


def test_throttle_builds_both_trees_and_caps_at_the_node_totals() -> None:
    ctl, kernel = _ctl()
    ctl.set_clients(CLIENTS)
    out = ctl.handle_command("set_throttle", PARAMS, 1, 0.0)
    assert (out.stage, out.applied_version) == ("applied", 1)
    st = kernel.read()
    assert st.lan.root_ours and st.ifb.root_ours and st.lan.redirect and st.lan.ingress
    assert set(st.lan.filters) == set(CLIENTS) == set(st.ifb.filters)
    assert st.lan.classes[1][1].rate == 4000 and st.ifb.classes[1][1].rate == 2000
    assert kernel.limits_bps() == (4_000_000.0, 2_000_000.0)
    cur = ctl.current()
    assert cur is not None and (cur.version, cur.down_kbps, cur.up_kbps) == (1, 4000, 2000)


def test_renewal_touches_nothing_and_a_client_change_only_filters() -> None:
    ctl, kernel = _ctl()
    ctl.set_clients(CLIENTS)
    ctl.handle_command("set_throttle", {**PARAMS, "lease_s": 60}, 1, 0.0)
    before, runs = kernel.read(), kernel.commands_run
    assert ctl.handle_command("set_throttle", {**PARAMS, "lease_s": 60}, 2, 10.0).stage == "applied"
    assert not ctl.set_clients(reversed(CLIENTS))
    assert kernel.commands_run == runs and kernel.read() == before
    assert ctl.set_clients(["10.77.0.12", "10.77.0.13"])
    assert kernel.commands_run - runs == 4  # del + add filter on the LAN side and on the IFB
    assert set(kernel.read().lan.filters) == {"10.77.0.12", "10.77.0.13"}


def test_clear_and_a_lapsed_lease_remove_all_shaping() -> None:
    ctl, kernel = _ctl()
    ctl.handle_command("set_throttle", {"down_kbps": 2000, "up_kbps": 1000, "lease_s": 30}, 1,
                       100.0)
    assert lease_tick(ctl, 129.0) == []
    (ev,) = lease_tick(ctl, 130.5)
    assert ev.kind == "throttle_lease_expired" and ev.data["version"] == 1
    st = kernel.read()
    assert not st.lan.root_ours and not st.ifb.root_ours and not st.lan.ingress
    assert kernel.limits_bps() == (None, None)
    ctl.handle_command("set_throttle", {"down_kbps": 2000}, 2, 200.0)
    assert kernel.limits_bps() == (2_000_000.0, None)
    assert ctl.handle_command("clear_throttle", {}, 3, 201.0).stage == "applied"
    assert kernel.limits_bps() == (None, None) and kernel.read().lan.classes == {}


class _DeafTc(FakeTc):
    """Drops every class change: the read-back never matches the plan."""

    deaf = False

    def execute(self, ops: Sequence[DevOp]) -> None:
        super().execute([o for o in ops if not (self.deaf and o[1][0] == "change_class")])


def test_a_kernel_that_does_not_take_the_change_is_verify_failed_and_rolled_back() -> None:
    ctl, kernel = _ctl(_DeafTc())
    ctl.handle_command("set_throttle", {"down_kbps": 2000}, 1, 0.0)
    kernel.deaf = True  # type: ignore[attr-defined]
    out = ctl.handle_command("set_throttle", {"down_kbps": 3000}, 2, 1.0)
    assert (out.stage, out.code, out.applied_version) == ("rejected", "verify_failed", 1)
    assert "change_class" in out.detail
    assert kernel.limits_bps() == (2_000_000.0, None)


def test_the_node_model_caps_its_traffic_at_the_enforced_rates() -> None:
    (node,) = build_fleet(1)  # a park, on a Saturday evening in Sampit: busy
    model = NodeModel(node, seed=1, interval_s=0.0, wall=lambda: SATURDAY_19_WIB)
    ctl, kernel = _ctl()
    model.limits = kernel.limits_bps
    link = sim_probes(model)[0]

    def active_rates() -> tuple[float, float]:
        up = next(u for u in link.collect()["uplinks"] if u["active"])
        return up["rx_bps"], up["tx_bps"]

    assert max(active_rates()[0] for _ in range(20)) > 200_000  # unthrottled: well above
    ctl.handle_command("set_throttle", {"down_kbps": 100, "up_kbps": 20}, 1, 0.0)
    for _ in range(50):
        rx, tx = active_rates()
        assert rx <= 0.97 * 100_000 and tx <= 0.97 * 20_000
