"""Link probe through real uplinks: two ISP namespaces, loss, blackhole, unreachable, carrier."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from protocol.messages import UPLINK_SAMPLE
from tests.netns.nsutil import Lab

pytestmark = pytest.mark.netns

A_TARGETS = ["192.0.2.1", "192.0.2.2"]
B_TARGETS = ["198.51.100.1", "198.51.100.2"]
ONLY_VIA_A = "203.0.113.9"


class Uplinks:
    """A node with uplinks upa/upb to namespaces ispa/ispb, each holding its own targets."""

    def __init__(self, lab: Lab, tmp: Path) -> None:
        self.lab, self.tmp = lab, tmp
        self.node = lab.add("node")
        self.isp = {"a": lab.add("ispa"), "b": lab.add("ispb")}
        lab.link(self.node, "upa", "10.1.0.2/24", self.isp["a"], "nodea", "10.1.0.1/24")
        lab.link(self.node, "upb", "10.2.0.2/24", self.isp["b"], "nodeb", "10.2.0.1/24")
        for addr in [*A_TARGETS, ONLY_VIA_A]:
            self.isp["a"].run("ip", "addr", "add", f"{addr}/32", "dev", "lo")
        for addr in B_TARGETS:
            self.isp["b"].run("ip", "addr", "add", f"{addr}/32", "dev", "lo")
        self.node.run("ip", "route", "add", "default", "via", "10.1.0.1", "metric", "100")
        self.node.run("ip", "route", "add", "default", "via", "10.2.0.1", "metric", "200")
        self.node.run("sysctl", "-qw", "net.ipv4.conf.all.rp_filter=2")

    def nft(self, isp: str, rule: str) -> None:
        """Add one rule to an input-hook filter chain inside an ISP namespace."""
        ns = self.isp[isp]
        ns.run("nft", "add table inet ktp")
        ns.run("nft", "add chain inet ktp in { type filter hook input priority 0 ; }")
        ns.run("nft", f"add rule inet ktp in {rule}")

    def probe(self, uplinks: list[dict[str, Any]], rounds: int = 1,
              interval: float = 0.0) -> list[dict[str, Any]]:
        """Run the real probe process inside the node namespace; one dict per round."""
        cfg = {"node": {"id": "n1", "site": "s1"}, "agent": {"probe_timeout_s": 5},
               "uplinks": uplinks}
        path = self.tmp / "agent.json"
        path.write_text(json.dumps(cfg))
        out = self.node.run(sys.executable, "-m", "agent.probes", "--config", str(path),
                            "--only", "link", "--rounds", str(rounds),
                            "--interval", str(interval), timeout=60)
        return [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]


def uplink(name: str, targets: list[str], **kw: Any) -> dict[str, Any]:
    """An uplink config that probes on every collect (probe_interval_s tiny)."""
    return {"name": name, "iface": f"up{name}", "targets": targets, "probe_count": 5,
            "probe_interval_s": 0.001, "probe_timeout_s": 1.0, **kw}


def samples(rounds: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The uplink sample of ``name`` from every round."""
    out = []
    for rnd in rounds:
        for res in rnd["results"]:
            if res["name"] == f"link:{name}":
                assert res["status"] == "ok", res
                UPLINK_SAMPLE.validate_python(res["data"]["uplinks"][0])  # fits the wire model
                out.append({**res["data"]["uplinks"][0], "detail": res["detail"]})
    return out


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Uplinks]:
    lab = Lab("ktp")
    try:
        yield Uplinks(lab, tmp_path)
    finally:
        lab.close()


def test_clean_uplinks_report_rtt_and_no_loss(net: Uplinks) -> None:
    rounds = net.probe([uplink("a", A_TARGETS), uplink("b", B_TARGETS)])
    for name in ("a", "b"):
        (s,) = samples(rounds, name)
        assert s["up"] is True and s["loss_pct"] == 0.0
        assert s["rtt_ms"] is not None and s["rtt_ms"] > 0
        assert s["jitter_ms"] is not None


def test_loss_at_one_isp_shows_only_on_that_uplink(net: Uplinks) -> None:
    net.nft("a", "icmp type echo-request numgen random mod 100 < 50 drop")
    rounds = net.probe([uplink("a", A_TARGETS), uplink("b", B_TARGETS)], rounds=6)
    a, b = samples(rounds, "a"), samples(rounds, "b")
    assert len(a) == len(b) == 6
    assert sum(s["loss_pct"] for s in a) > 0  # 60 pings at 50 % drop: some are lost ...
    assert min(s["loss_pct"] for s in a) < 100  # ... and some get through
    assert all(s["loss_pct"] == 0.0 for s in b)


def test_blackhole_is_silent_total_loss_with_carrier_up(net: Uplinks) -> None:
    net.isp["b"].run("ip", "route", "add", "blackhole", "10.2.0.2/32")
    rounds = net.probe([uplink("a", A_TARGETS), uplink("b", B_TARGETS)])
    (a,), (b,) = samples(rounds, "a"), samples(rounds, "b")
    assert b["up"] is True and b["loss_pct"] == 100.0 and b["rtt_ms"] is None
    assert "timeout" in b["detail"] and "unreachable" not in b["detail"]
    assert a["loss_pct"] == 0.0


def test_icmp_unreachable_counts_as_failure(net: Uplinks) -> None:
    net.nft("a", "ip daddr 192.0.2.1 icmp type echo-request reject with icmp type host-unreachable")
    (a,) = samples(net.probe([uplink("a", A_TARGETS)]), "a")
    assert a["loss_pct"] == 50.0  # every ping to 192.0.2.1 failed, 192.0.2.2 answered
    assert "unreachable=5" in a["detail"] and "192.0.2.1=100%" in a["detail"]


def test_probe_never_leaks_through_the_other_uplink(net: Uplinks) -> None:
    # ONLY_VIA_A answers through uplink A; probing it via B must not use A's default route.
    # ISP A would even answer a leaked probe sourced from B's address:
    net.isp["a"].run("ip", "route", "add", "10.2.0.0/24", "via", "10.1.0.2")
    net.nft("a", "ip saddr 10.2.0.0/24 counter")
    rounds = net.probe([uplink("a", [ONLY_VIA_A, A_TARGETS[0]]), uplink("b", [ONLY_VIA_A, B_TARGETS[0]])])
    (a,), (b,) = samples(rounds, "a"), samples(rounds, "b")
    assert a["loss_pct"] == 0.0
    assert f"{ONLY_VIA_A}=100%" in b["detail"] and f"{B_TARGETS[0]}=0%" in b["detail"]
    counters = net.isp["a"].run("nft", "list ruleset").stdout
    assert "packets 0 " in counters  # not one probe from B's address ever reached ISP A


def test_carrier_down_when_peer_is_down(net: Uplinks) -> None:
    net.isp["b"].run("ip", "link", "set", "nodeb", "down")
    rounds = net.probe([uplink("a", A_TARGETS), uplink("b", B_TARGETS)])
    (a,), (b,) = samples(rounds, "a"), samples(rounds, "b")
    assert a["up"] is True and b["up"] is False
    assert b["loss_pct"] == 100.0 and "no carrier" in b["detail"]


def test_carrier_loss_and_return_are_events(net: Uplinks) -> None:
    cfg = {"node": {"id": "n1", "site": "s1"}, "uplinks": [uplink("b", B_TARGETS)]}
    path = net.tmp / "agent-events.json"
    path.write_text(json.dumps(cfg))
    proc = net.node.popen(sys.executable, "-m", "agent.probes", "--config", str(path),
                          "--only", "link", "--rounds", "3", "--interval", "2",
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]             # round 0: carrier up
        net.isp["b"].run("ip", "link", "set", "nodeb", "down")
        lines.append(proc.stdout.readline())         # round 1: carrier lost
        net.isp["b"].run("ip", "link", "set", "nodeb", "up")
        lines.append(proc.stdout.readline())         # round 2: carrier back
    finally:
        proc.kill()
        proc.wait(timeout=10)
    events = [json.loads(x)["results"][0]["data"].get("events", []) for x in lines]
    assert events[0] == []
    assert [(e["kind"], e["data"]["up"]) for e in events[1]] == [("link_carrier", False)]
    assert [(e["kind"], e["data"]["up"]) for e in events[2]] == [("link_carrier", True)]
