"""Uplink failover with the real kernel: routes, rules, NAT, conntrack, real ICMP probes.

A client behind the node sends one UDP flow (sequence numbers every 10 ms) to a receiver in the
'internet'; the receiver sees which uplink's NAT address each packet came from, so "traffic is
on the backup" is measured where a user would notice it, not inferred from the agent's logs.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from .test_failover_lab import RECEIVER, FailoverLab, Proc, max_gap, packets_via

pytestmark = pytest.mark.netns

# Wall-clock bounds carry 2-3x headroom over the goals (carrier loss -> backup <= 1 s, hitless
# failback) so a loaded 2-core CI machine does not flake; bench/failover.py measures and
# reports the tight figures (medians, side by side with the anchors) instead of asserting them.
CARRIER_SWITCH_MAX_S = 2.5
FAILBACK_MAX_GAP_S = 1.5


@pytest.fixture
def lab() -> Iterator[FailoverLab]:
    """A fresh lab per test; every process and namespace is removed afterwards."""
    fl = FailoverLab()
    try:
        yield fl
    finally:
        fl.close()


def wait_backup(recv: Proc, since: float, timeout: float) -> float | None:
    """Seconds from ``since`` until the receiver saw the first packet via the backup."""
    rec = recv.wait_for(lambda r: r.get("via") == "backup" and r["t"] >= since, timeout)
    return None if rec is None else rec["t"] - since


def events(node: Proc, kind: str, timeout: float = 2.0) -> list[dict[str, Any]]:
    """Events of one kind the node reported (waits up to ``timeout`` s for the first)."""
    node.wait_for(lambda r: r.get("event") == kind, timeout)
    return [r for r in list(node.all) if r.get("event") == kind]


def test_carrier_loss_moves_traffic_to_backup_promptly(lab: FailoverLab) -> None:
    node = lab.start_node()
    recv, _send = lab.start_flow(seconds=8)
    assert recv.wait_for(lambda r: r.get("via") == "primary", 5), "flow starts on the primary"
    t0 = time.monotonic()
    lab.isp[1].run("ip", "link", "set", "cust", "down")  # the node's wan1 loses carrier
    delay = wait_backup(recv, t0, 5)
    assert delay is not None and delay <= CARRIER_SWITCH_MAX_S, \
        f"first packet via backup after {delay}s"
    time.sleep(1.0)
    assert len(packets_via(recv, "backup", t0 + delay)) > 50, "the same flow keeps flowing"
    assert "dev wan2" in lab.route()
    down = events(node, "uplink_down")
    assert down and down[0]["data"]["reason"] == "carrier"


def test_silent_upstream_blackhole_moves_traffic_to_backup(lab: FailoverLab) -> None:
    node = lab.start_node()
    recv, _send = lab.start_flow(seconds=10)
    assert recv.wait_for(lambda r: r.get("via") == "primary", 5)
    t0 = time.monotonic()
    lab.isp[1].run("ip", "route", "replace", "blackhole", "default")  # link stays up
    delay = wait_backup(recv, t0, 8)
    assert delay is not None and delay <= 5.0, f"first packet via backup after {delay}s"
    assert "state UP" in lab.node.run("ip", "link", "show", "wan1").stdout
    down = events(node, "uplink_down")
    assert down and down[0]["data"]["reason"] == "no_replies"
    fo = events(node, "failover")
    assert fo and fo[0]["data"]["flushed"] >= 0
    # the flow's NAT entry on the old uplink is gone (conntrack's own count is only a lower
    # bound: conntrack(8) stops without a count when an entry vanishes under it)
    old_nat = lab.node.run("conntrack", "-L", "-f", "ipv4", "-p", "udp", "-q", "100.64.1.2",
                           "--orig-dst", RECEIVER).stdout
    assert RECEIVER not in old_nat, f"stale NAT entry of the flow on wan1: {old_nat}"


def test_thirty_percent_loss_moves_traffic_to_backup(lab: FailoverLab) -> None:
    node = lab.start_node()
    recv, _send = lab.start_flow(seconds=20)
    assert recv.wait_for(lambda r: r.get("via") == "primary", 5)
    t0 = time.monotonic()
    lab.isp[1].run("nft", "add table inet ktloss; add chain inet ktloss fw { type filter hook "
                   "forward priority 0 ; }; add rule inet ktloss fw iifname cust "
                   "numgen random mod 100 < 30 drop")
    delay = wait_backup(recv, t0, 18)
    assert delay is not None, "30% loss on the primary never moved traffic"
    down = events(node, "uplink_down")
    assert down and str(down[0]["data"]["reason"]).startswith(("loss", "no_replies"))


def test_actuator_rules_rollback_and_main_untouched(lab: FailoverLab) -> None:
    cfg = lab.config()
    cfg["uplinks"][1]["gateway"] = "100.64.9.9"  # not on-link: the kernel refuses the route
    main_before = lab.node.run("ip", "route", "show", "table", "main").stdout
    proc = lab.spawn(lab.node, "act", json.dumps(cfg))
    assert proc.wait_for(lambda r: r.get("step") == "teardown", 20) is not None
    steps = {r["step"]: r for r in proc.all}
    rules = steps["setup"]["rules"]
    assert "1000:\tfrom all lookup main suppress_prefixlength 0" in rules
    assert "1001:\tfrom all lookup 100" in rules and rules.count("lookup 100") == 1
    assert steps["setup"]["linkdown"] == "1" and steps["setup"]["rp"] == "2"
    assert steps["primary"]["ok"] and steps["primary"]["current"] == "primary"
    bad = steps["backup"]
    assert not bad["ok"] and bad["rolled_back"] and bad["current"] == "primary", bad
    assert "lookup 100" not in steps["teardown"]["rules"]
    assert lab.node.run("ip", "route", "show", "table", "main").stdout == main_before


def test_failback_only_after_stable_window(lab: FailoverLab) -> None:
    stable = 2.5
    node = lab.start_node(stable_window_s=stable)
    recv, _send = lab.start_flow(seconds=14)
    assert recv.wait_for(lambda r: r.get("via") == "primary", 5)
    lab.isp[1].run("ip", "link", "set", "cust", "down")
    assert node.wait_for(lambda r: r.get("switch") == "backup", 5)
    assert not events(node, "failback", 0)
    time.sleep(1)
    t_up = time.monotonic()
    lab.isp[1].run("ip", "link", "set", "cust", "up")
    back = node.wait_for(lambda r: r.get("from") == "backup", stable + 8)
    assert back is not None, "never failed back"
    assert back["t"] - t_up >= stable, "failed back inside the stable window"
    assert recv.wait_for(lambda r: r.get("via") == "primary" and r["t"] > back["t"], 3), \
        "client traffic returned to the primary"
    gap = max_gap(recv, back["t"] - 0.5, back["t"] + 2.5)
    assert gap < FAILBACK_MAX_GAP_S, f"failback interrupted the flow for {gap:.2f}s"
    assert "dev wan1" in lab.route()


def test_route_flushed_by_someone_else_comes_back(lab: FailoverLab) -> None:
    node = lab.start_node()
    lab.node.run("ip", "route", "flush", "table", "100")
    assert node.wait_for(lambda r: r.get("event") == "route_restored", 5) is not None
    assert "dev wan1" in lab.route()


class RouteMonitor:
    """Counts changes of the default route in table 100 as the kernel announces them."""

    def __init__(self, lab: FailoverLab) -> None:
        self.changes: list[str] = []
        self.p = lab.node.popen("ip", "-o", "monitor", "route", stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for raw in self.p.stdout:
            line = raw.decode(errors="replace")
            if line.startswith("default") and "table 100" in line:
                self.changes.append(line.strip())

    def stop(self) -> None:
        """Stop ip monitor (bounded)."""
        self.p.terminate()
        self.p.wait(timeout=5)
        self._t.join(timeout=2)


def test_line_flapping_every_3s_does_not_flap_routes(lab: FailoverLab) -> None:
    node = lab.start_node(stable_window_s=4.0, flap_threshold=2, flap_window_s=12.0)
    mon = RouteMonitor(lab)
    try:
        time.sleep(0.5)
        for i in range(6):  # down 3 s, up 3 s, ... for 18 s
            lab.isp[1].run("ip", "link", "set", "cust", "down" if i % 2 == 0 else "up")
            time.sleep(3)
        during = list(mon.changes)
        assert len(during) == 1 and "wan2" in during[0], f"route changes: {during}"
        assert events(node, "flapping"), "the flapping line was reported"
        # the line is stable again: failback waits for the flap hold to end, then the window
        end = node.wait_for(lambda r: r.get("event") == "flapping_ended", 20)
        assert end is not None
        back = node.wait_for(lambda r: r.get("from") == "backup", 10)
        assert back is not None and back["ts_ms"] >= end["ts_ms"]
    finally:
        mon.stop()
    assert len(mon.changes) == 2
