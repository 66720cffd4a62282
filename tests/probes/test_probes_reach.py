"""ICMP packet handling and round summaries of the link probe."""

from __future__ import annotations

import socket
import struct

from agent.config import UplinkSection
from agent.probes.link import LinkProbe, round_detail, summarise
from agent.probes.reach import RoundResult, checksum, echo_request, parse_icmp


def ipv4(src: str, dst: str, payload: bytes, proto: int = 1) -> bytes:
    """A minimal IPv4 header (20 bytes) in front of ``payload``."""
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst)) + payload


def test_echo_request_checksum_verifies() -> None:
    assert checksum(echo_request(0x1234, 7)) == 0


def test_reply_matched_by_id_seq_and_source() -> None:
    reply = bytearray(echo_request(0xBEEF, 3))
    reply[0] = 0  # type 0: echo reply
    assert parse_icmp(ipv4("192.0.2.1", "10.1.0.2", bytes(reply))) == ("reply", 0xBEEF, 3, "192.0.2.1")


def test_host_unreachable_names_the_original_target() -> None:
    original = ipv4("10.1.0.2", "192.0.2.9", echo_request(0xBEEF, 4))
    unreach = struct.pack("!BBHI", 3, 1, 0, 0) + original[:28]
    parsed = parse_icmp(ipv4("10.1.0.1", "10.1.0.2", unreach))
    assert parsed == ("unreach", 0xBEEF, 4, "192.0.2.9")


def test_other_icmp_and_short_packets_ignored() -> None:
    assert parse_icmp(ipv4("192.0.2.1", "10.1.0.2", echo_request(1, 1))) is None  # a request
    assert parse_icmp(b"\x45\x00") is None


def test_summary_loss_median_rtt_and_jitter() -> None:
    rnd = RoundResult({"a": [10.0, 14.0, None], "b": [20.0, 20.0, 20.0]})
    s = summarise(rnd)
    assert s["loss_pct"] == round(100 / 6, 2)
    assert s["rtt_ms"] == 20.0
    assert s["jitter_ms"] == round((4.0 + 0.0 + 0.0) / 3, 3)
    assert round_detail(rnd).startswith("loss a=33% b=0%")


def test_total_loss_has_no_rtt_or_jitter() -> None:
    s = summarise(RoundResult({"a": [None, None]}))
    assert s == {"rtt_ms": None, "loss_pct": 100.0, "jitter_ms": None}


def test_absent_interface_reports_down_not_an_error() -> None:
    probe = LinkProbe(UplinkSection(name="lte", iface="ktp-absent0", kind="lte"))
    (sample,) = probe.collect()["uplinks"]
    assert sample["up"] is False and sample["loss_pct"] == 100.0 and sample["rtt_ms"] is None
