"""Throttling with real tc in real namespaces: measured TCP rates, clear, lease, idempotence."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from agent.actuators.shaping import ShapingError, TcShaper
from agent.config import ShapingSection
from agent.controllers.shaping import ShapingController
from agent.policy.shaping import DevOp

from .test_shaping_lab import CLIENT_IPS, ShapingLab, measure

pytestmark = pytest.mark.netns


@pytest.fixture(scope="module")
def lab() -> Iterator[ShapingLab]:
    """The namespaces, shared by this module's tests (each test clears its shaping)."""
    lab = ShapingLab()
    try:
        yield lab
    finally:
        lab.close()


def _controller(lab: ShapingLab, shaper: TcShaper | None = None, **cfg: int) -> ShapingController:
    section = ShapingSection(enabled=True, lan_iface="br0", ifb_iface="ifb-kotanet", **cfg)
    return ShapingController(section, shaper or TcShaper("br0", "ifb-kotanet", netns=lab.netns))


@pytest.fixture
def ctl(lab: ShapingLab) -> Iterator[ShapingController]:
    """A controller for the node namespace; all shaping removed afterwards."""
    c = _controller(lab)
    try:
        yield c
    finally:
        c.cfg = ShapingSection(enabled=True)
        c.clear()


def within(measured: float, limit: float, tol: float = 0.10) -> bool:
    """True when a measured rate is within +-tol of the commanded limit."""
    return abs(measured - limit) <= tol * limit


def test_node_limit_holds_for_download_and_upload(lab: ShapingLab, ctl: ShapingController) -> None:
    out = ctl.handle_command("set_throttle", {"down_kbps": 2000, "up_kbps": 1000}, 1, 0.0)
    assert (out.stage, out.applied_version) == ("applied", 1)
    down = measure(lab, ["c1"], download=True)["c1"]
    up = measure(lab, ["c1"], download=False)["c1"]
    assert within(down, 2000), f"download {down:.0f} kbit/s, commanded 2000"
    assert within(up, 1000), f"upload {up:.0f} kbit/s, commanded 1000"
    cur = ctl.current()
    assert cur is not None and (cur.version, cur.down_kbps, cur.up_kbps) == (1, 2000, 1000)


def test_each_client_gets_its_own_limit(lab: ShapingLab, ctl: ShapingController) -> None:
    ctl.set_clients(CLIENT_IPS.values())
    params = {"down_kbps": 8000, "up_kbps": 4000, "per_client_down_kbps": 1500,
              "per_client_up_kbps": 800}
    assert ctl.handle_command("set_throttle", params, 3, 0.0).stage == "applied"
    down = measure(lab, ["c1", "c2"], download=True)
    up = measure(lab, ["c1", "c2"], download=False)
    for name in ("c1", "c2"):
        assert within(down[name], 1500), f"{name} download {down[name]:.0f}, commanded 1500"
        assert within(up[name], 800), f"{name} upload {up[name]:.0f}, commanded 800"


def test_clear_and_lease_expiry_remove_the_limit(lab: ShapingLab, ctl: ShapingController) -> None:
    ctl.handle_command("set_throttle", {"down_kbps": 2000, "lease_s": 30}, 1, 100.0)
    shaped = lab.snapshot()
    assert not ctl.tick(129.0)
    assert lab.snapshot() == shaped
    assert ctl.tick(130.5)
    cur = ctl.current()
    assert cur is not None and cur.down_kbps is None and "htb" not in lab.snapshot()
    assert measure(lab, ["c1"], download=True, seconds=2)["c1"] > 10 * 2000
    assert ctl.handle_command("set_throttle", {"down_kbps": 2000}, 2, 200.0).stage == "applied"
    assert ctl.handle_command("clear_throttle", {}, 3, 201.0).stage == "applied"
    assert "htb" not in lab.snapshot()
    assert measure(lab, ["c1"], download=True, seconds=2)["c1"] > 10 * 2000


def test_clear_returns_to_the_safe_default(lab: ShapingLab) -> None:
    ctl = _controller(lab, default_down_kbps=3000, default_up_kbps=1500)
    try:
        ctl.start()
        ctl.handle_command("set_throttle", {"down_kbps": 1000, "up_kbps": 500}, 4, 0.0)
        ctl.handle_command("clear_throttle", {}, 5, 1.0)
        cur = ctl.current()
        assert cur is not None and (cur.version, cur.down_kbps, cur.up_kbps) == (5, 3000, 1500)
        down = measure(lab, ["c2"], download=True)["c2"]
        assert within(down, 3000), f"download {down:.0f} kbit/s, safe default 3000"
    finally:
        ctl.cfg = ShapingSection(enabled=True)
        ctl.clear()


def test_same_desired_state_twice_changes_nothing(lab: ShapingLab, ctl: ShapingController) -> None:
    ctl.set_clients(CLIENT_IPS.values())
    params = {"down_kbps": 4000, "up_kbps": 2000, "per_client_down_kbps": 1000,
              "per_client_up_kbps": 500, "lease_s": 60}
    ctl.handle_command("set_throttle", params, 1, 0.0)
    before, runs = lab.snapshot(), ctl.shaper.commands_run
    assert ctl.handle_command("set_throttle", params, 2, 10.0).stage == "applied"
    assert not ctl.set_clients(reversed(list(CLIENT_IPS.values())))
    assert ctl.shaper.commands_run == runs
    assert lab.snapshot() == before
    assert ctl.current() is not None and ctl.current().version == 2  # type: ignore[union-attr]
    # a client leaving and another arriving touches the filters, not the tree
    assert ctl.set_clients(["10.77.0.12", "10.77.0.13"])
    assert ctl.shaper.commands_run - runs == 4  # del + add filter on br0 and on the IFB
    snap = lab.snapshot()
    assert '"a4d000d"' in snap and '"a4d000b"' not in snap  # 10.77.0.13 in, .11 out


def test_bad_params_are_rejected_and_change_nothing(lab: ShapingLab,
                                                    ctl: ShapingController) -> None:
    ctl.handle_command("set_throttle", {"down_kbps": 2000}, 1, 0.0)
    before, runs = lab.snapshot(), ctl.shaper.commands_run
    for params in ({"down_kbps": -5}, {"down_kbps": 2000, "colour": "red"},
                   {"down_kbps": 1000, "per_client_down_kbps": 2000}, {"up_kbps": 2.5e7}):
        out = ctl.handle_command("set_throttle", params, 2, 1.0)
        assert (out.stage, out.code, out.applied_version) == ("rejected", "bad_params", 1)
    assert lab.snapshot() == before and ctl.shaper.commands_run == runs


class _FailingShaper(TcShaper):
    """Applies the first half of a batch, then fails (a tc error mid-way)."""

    fail_next = False

    def execute(self, ops: Sequence[DevOp]) -> None:
        if self.fail_next and ops:
            self.fail_next = False
            super().execute(ops[: max(1, len(ops) // 2)])
            raise ShapingError("injected failure", "tc_failed")
        super().execute(ops)


def test_failed_apply_rolls_back_to_previous_state(lab: ShapingLab) -> None:
    shaper = _FailingShaper("br0", "ifb-kotanet", netns=lab.netns)
    ctl = _controller(lab, shaper)
    try:
        shaper.ensure_ifb()  # rollback restores qdiscs, classes and filters, not the device
        ctl.set_clients(CLIENT_IPS.values())
        ctl.handle_command("set_throttle", {"down_kbps": 2000, "per_client_down_kbps": 700}, 1, 0)
        before = lab.snapshot()
        shaper.fail_next = True
        out = ctl.handle_command("set_throttle", {"down_kbps": 5000, "up_kbps": 1000,
                                                  "per_client_up_kbps": 300}, 2, 1.0)
        assert (out.stage, out.code, out.applied_version) == ("rejected", "tc_failed", 1)
        assert lab.snapshot() == before
        cur = ctl.current()
        assert cur is not None and (cur.down_kbps, cur.per_client_down_kbps) == (2000, 700)
    finally:
        ctl.clear()
