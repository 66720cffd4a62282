"""TCP-connect and DNS reachability rounds through one uplink (alternatives to ICMP)."""

from __future__ import annotations

import errno
import os
import select
import socket
import struct

from agent.clock import Clock, monotonic
from agent.probes.reach import Binding, RoundResult

# A TCP RST (connection refused) proves the path works: the target answered.
_TCP_ALIVE = (0, errno.ECONNREFUSED)


def dns_query(qid: int) -> bytes:
    """A DNS query for the root NS set; any answer (even REFUSED) proves reachability."""
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"\x00" + struct.pack("!HH", 2, 1)


def _open(kind: int, bind: Binding) -> socket.socket:
    sk = socket.socket(socket.AF_INET, kind)
    try:
        bind.apply(sk)
        sk.setblocking(False)
    except OSError:
        sk.close()
        raise
    return sk


def sock_round(method: str, bind: Binding, targets: list[str], count: int, timeout_s: float,
               port: int = 443, clock: Clock = monotonic) -> RoundResult:
    """``count`` TCP connects or DNS queries per target, all in flight at once, bounded."""
    res = RoundResult({t: [None] * count for t in targets})
    live: dict[socket.socket, tuple[str, int, float, int]] = {}
    try:
        for i in range(count):
            for tgt in targets:
                try:
                    if method == "tcp":
                        sk = _open(socket.SOCK_STREAM, bind)
                        sk.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        sk.connect_ex((tgt, port))
                        qid = 0
                    else:
                        sk = _open(socket.SOCK_DGRAM, bind)
                        qid = int.from_bytes(os.urandom(2), "big")
                        sk.connect((tgt, 53))  # connected: ICMP errors surface as failures
                        sk.send(dns_query(qid))
                    live[sk] = (tgt, i, clock(), qid)
                except OSError as exc:
                    res.fail(f"send:{os.strerror(exc.errno or 0)}")
        deadline = clock() + timeout_s
        for _ in range(10_000):  # bounded; exits when all answered or at the deadline
            now = clock()
            if not live or now >= deadline:
                break
            socks = list(live)
            if method == "tcp":
                _, ready, _ = select.select([], socks, [], deadline - now)
            else:
                ready, _, _ = select.select(socks, [], [], deadline - now)
            for sk in ready:
                tgt, i, sent, qid = live[sk]
                ok, why = _finish(method, sk, qid)
                if ok is None:
                    continue
                del live[sk]
                sk.close()
                if ok:
                    res.rtts[tgt][i] = (clock() - sent) * 1000.0
                else:
                    res.fail(why)
        for _ in live:
            res.fail("timeout")
    finally:
        for sk in live:
            sk.close()
    return res


def _finish(method: str, sk: socket.socket, qid: int) -> tuple[bool | None, str]:
    """(True, "") on success, (False, why) on failure, (None, "") to keep waiting."""
    if method == "tcp":
        err = sk.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err in _TCP_ALIVE:
            return True, ""
        return False, "unreachable" if err in (errno.EHOSTUNREACH, errno.ENETUNREACH) \
            else f"tcp:{os.strerror(err)}"
    try:
        data = sk.recv(512)
    except BlockingIOError:
        return None, ""
    except OSError as exc:  # ICMP errors: port unreachable = ECONNREFUSED, host = EHOSTUNREACH
        return False, "dns:port-unreachable" if exc.errno == errno.ECONNREFUSED else "unreachable"
    if len(data) >= 2 and struct.unpack_from("!H", data)[0] == qid:
        return True, ""
    return None, ""
