"""Reachability rounds through one uplink: ICMP echo over a raw socket, every target at once.

Each probe socket is pinned to its uplink three ways: SO_BINDTODEVICE (the kernel never sends
it out of another device, whatever the routing tables say), bind to the uplink's source
address (replies come back to this uplink and ISP NAT/rp_filter see the right address), and
SO_MARK when configured (policy rules can steer it to the uplink's own table).
"""

from __future__ import annotations

import logging
import os
import select
import socket
import struct
from dataclasses import dataclass, field

from agent.clock import Clock, monotonic

log = logging.getLogger(__name__)

SO_MARK = getattr(socket, "SO_MARK", 36)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
ICMP_ECHO_REPLY, ICMP_UNREACH, ICMP_ECHO, ICMP_TIME_EXCEEDED = 0, 3, 8, 11


@dataclass(frozen=True)
class Binding:
    """How a probe socket is pinned to its uplink."""

    device: str
    source: str | None = None
    fwmark: int | None = None

    def apply(self, sk: socket.socket) -> None:
        """Pin ``sk`` to the device, mark and source address."""
        sk.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, self.device.encode())
        if self.fwmark is not None:
            sk.setsockopt(socket.SOL_SOCKET, SO_MARK, self.fwmark)
        if self.source:
            sk.bind((self.source, 0))


@dataclass
class RoundResult:
    """Per-target RTTs of one round (None = lost) and why attempts failed."""

    rtts: dict[str, list[float | None]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def fail(self, why: str) -> None:
        """Count one failed attempt by reason."""
        self.errors[why] = self.errors.get(why, 0) + 1


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, payload: bytes = b"kotanet-probe") -> bytes:
    """An ICMP echo request with a valid checksum."""
    head = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq)
    csum = checksum(head + payload)
    return struct.pack("!BBHHH", ICMP_ECHO, 0, csum, ident, seq) + payload


def parse_icmp(packet: bytes) -> tuple[str, int, int, str] | None:
    """Classify a received IPv4 packet: ("reply"|"unreach", ident, seq, target) or None."""
    if len(packet) < 28 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    src = socket.inet_ntoa(packet[12:16])
    icmp = packet[ihl:]
    if len(icmp) < 8:
        return None
    typ, _code, _csum, ident, seq = struct.unpack_from("!BBHHH", icmp)
    if typ == ICMP_ECHO_REPLY:
        return "reply", ident, seq, src
    if typ in (ICMP_UNREACH, ICMP_TIME_EXCEEDED) and len(icmp) >= 36:
        inner = icmp[8:]
        ihl2 = (inner[0] & 0x0F) * 4
        if inner[9] != socket.IPPROTO_ICMP or len(inner) < ihl2 + 8:
            return None
        ityp, _c, _s, ident, seq = struct.unpack_from("!BBHHH", inner, ihl2)
        if ityp == ICMP_ECHO:
            return "unreach", ident, seq, socket.inet_ntoa(inner[16:20])
    return None


def icmp_round(bind: Binding, targets: list[str], count: int, timeout_s: float,
               clock: Clock = monotonic) -> RoundResult:
    """Ping every target ``count`` times in parallel; the whole round ends by ``timeout_s``."""
    res = RoundResult({t: [None] * count for t in targets})
    ident = int.from_bytes(os.urandom(2), "big")
    sends = [(i, t) for i in range(count) for t in targets]  # interleaved across targets
    spacing = min(0.2, timeout_s * 0.5 / max(1, count))
    pending: dict[int, tuple[str, int, float]] = {}
    t0 = clock()
    deadline = t0 + timeout_s
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sk:
        bind.apply(sk)
        sk.setblocking(False)
        nxt = 0
        for _ in range(100_000):  # bounded; normally exits on deadline or all answered
            now = clock()
            while nxt < len(sends) and now >= t0 + spacing * sends[nxt][0]:
                i, tgt = sends[nxt]
                seq = (nxt + 1) & 0xFFFF
                try:
                    sk.sendto(echo_request(ident, seq), (tgt, 0))
                    pending[seq] = (tgt, i, clock())
                except OSError as exc:
                    res.fail(f"send:{os.strerror(exc.errno or 0)}")
                nxt += 1
            if now >= deadline or (nxt == len(sends) and not pending):
                break
            wake = deadline if nxt == len(sends) else min(deadline, t0 + spacing * sends[nxt][0])
            ready, _, _ = select.select([sk], [], [], max(0.0, wake - now))
            if ready:
                _drain(sk, ident, pending, res, clock)
    for _tgt, _i, _sent in pending.values():
        res.fail("timeout")
    return res


def _drain(sk: socket.socket, ident: int, pending: dict[int, tuple[str, int, float]],
           res: RoundResult, clock: Clock) -> None:
    for _ in range(256):
        try:
            packet = sk.recv(2048)
        except (BlockingIOError, InterruptedError):
            return
        parsed = parse_icmp(packet)
        if parsed is None or parsed[1] != ident or parsed[2] not in pending:
            continue
        kind, _id, seq, addr = parsed
        tgt, i, sent = pending[seq]
        if addr != tgt:
            continue
        del pending[seq]
        if kind == "reply":
            res.rtts[tgt][i] = (clock() - sent) * 1000.0
        else:
            res.fail("unreachable")
