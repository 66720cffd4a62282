"""Link probe alternatives (TCP connect, DNS) and the slow standby schedule, on real netns."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns.nsutil import Lab
from tests.netns.test_probes_link import A_TARGETS, B_TARGETS, Uplinks, samples, uplink

pytestmark = pytest.mark.netns


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Uplinks]:
    lab = Lab("ktp")
    try:
        yield Uplinks(lab, tmp_path)
    finally:
        lab.close()


def test_tcp_connect_refused_is_alive_silence_is_loss(net: Uplinks) -> None:
    net.nft("a", "ip daddr 192.0.2.2 tcp dport 9 drop")
    (a,) = samples(net.probe([uplink("a", A_TARGETS, method="tcp", tcp_port=9)]), "a")
    assert "192.0.2.1=0%" in a["detail"]      # RST from the target: the path works
    assert "192.0.2.2=100%" in a["detail"]    # dropped SYNs: timeout
    assert a["loss_pct"] == 50.0 and a["rtt_ms"] is not None


def test_dns_answers_count_and_port_unreachable_fails(net: Uplinks, tmp_path: Path) -> None:
    dns = net.isp["a"].popen(
        "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
        "--listen-address=192.0.2.1", "--bind-interfaces", f"--pid-file={tmp_path}/dns.pid",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        rounds = net.probe([uplink("a", A_TARGETS, method="dns")], rounds=2)
    finally:
        dns.terminate()
        dns.wait(timeout=10)
    a = samples(rounds, "a")[-1]  # the first round may race dnsmasq's start
    assert "192.0.2.1=0%" in a["detail"]      # dnsmasq answered (REFUSED counts: it answered)
    assert "192.0.2.2=100%" in a["detail"]    # nothing on port 53 there
    assert "dns:port-unreachable=" in a["detail"]  # ICMP errors fail it (kernel rate-limits them)
    assert a["loss_pct"] == 50.0


def test_standby_lte_is_probed_at_the_slow_interval(net: Uplinks) -> None:
    net.nft("b", "icmp type echo-request counter")
    rounds = net.probe([uplink("a", A_TARGETS, priority=0),
                        uplink("b", B_TARGETS, kind="lte", priority=1,
                               standby_probe_interval_s=3600)], rounds=3)
    a, b = samples(rounds, "a"), samples(rounds, "b")
    assert [s["active"] for s in b] == [False] * 3 and all(s["active"] for s in a)
    assert [s["loss_pct"] for s in b] == [0.0] * 3  # the last result is repeated in between
    assert "standby: last round reused" in b[2]["detail"]
    # 5 pings x 2 targets, once: the metered link was probed in the first round only
    assert "packets 10 " in net.isp["b"].run("nft", "list ruleset").stdout


def test_throughput_from_interface_counters_per_uplink(net: Uplinks) -> None:
    blast = ("import socket, time\n"
             "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
             "for _ in range(400):\n"  # ~400 kB over ~4 s out of uplink A only
             "    s.sendto(b'x' * 1000, ('192.0.2.1', 9)); time.sleep(0.01)\n")
    blaster = net.node.popen(sys.executable, "-c", blast)
    try:
        rounds = net.probe([uplink("a", A_TARGETS), uplink("b", B_TARGETS)], rounds=3,
                           interval=1.0)
    finally:
        blaster.kill()
        blaster.wait(timeout=10)
    a, b = samples(rounds, "a")[-1], samples(rounds, "b")[-1]
    assert a["tx_bps"] > 200_000           # the blast went out of A ...
    assert b["tx_bps"] < 50_000            # ... and not out of B (which only carried pings)
    assert a["tx_errors"] == 0 and a["tx_dropped"] == 0
