"""Selftest building blocks and the node's own checks (clock, SD card, services, GPIO).

A check is a small function returning a ``Check``: status ok, fail or skip ("not applicable
here", never a failure), a translatable detail and, when it failed, a translatable fix hint.
Details carry only language-neutral values (addresses, numbers, names) next to their key, so
the whole output can be printed in Bahasa Indonesia or English. Reasons of errors are mapped
from errno/SSL/DNS codes to keys, never printed as the English text of the exception.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent import netlink, sysexec
from agent.clock import clock_synced, wall_ms
from agent.config import AgentConfig
from agent.probes.hostapd import HostapdCtrl, HostapdError, socket_paths
from agent.probes.sockreach import dns_query

SD_TEST_BYTES = 256 * 1024
SD_SLOW_MS = 3000.0
DISK_MIN_MB = 64
DISK_MIN_PCT = 5.0
ERRNO_KEYS = {errno.ETIMEDOUT: "err.timeout", errno.ECONNREFUSED: "err.refused",
              errno.EHOSTUNREACH: "err.unreachable", errno.ENETUNREACH: "err.unreachable",
              errno.EPERM: "err.perm", errno.EACCES: "err.perm", errno.ENOENT: "err.missing"}


@dataclass(frozen=True)
class Msg:
    """A translatable text: catalogue key and language-neutral values (or nested Msgs)."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)


def msg(key: str, /, **params: Any) -> Msg:
    """Shorthand for Msg(key, params)."""
    return Msg(key, params)


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: Msg
    status: str  # "ok" | "fail" | "skip"
    detail: Msg
    hint: Msg | None = None

    @property
    def ok(self) -> bool:
        """True unless the check failed (a skipped check is not a failure)."""
        return self.status != "fail"


def passed(name: Msg, detail: Msg) -> Check:
    """A check that passed."""
    return Check(name, "ok", detail)


def failed(name: Msg, detail: Msg, hint: Msg) -> Check:
    """A check that failed, with the fix hint for the technician."""
    return Check(name, "fail", detail, hint)


def skipped(name: Msg, detail: Msg) -> Check:
    """A check that does not apply to this node."""
    return Check(name, "skip", detail)


def why(exc: BaseException) -> Msg:
    """The reason of an error as a key (timeout, refused, certificate, ...)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return msg("err.name" if exc.verify_code == 62 else "err.cert")
    if isinstance(exc, ssl.SSLError):
        return msg("err.tls")
    if isinstance(exc, socket.gaierror):
        return msg("err.nxdomain" if exc.errno in (socket.EAI_NONAME, socket.EAI_NODATA)
                   else "err.timeout" if exc.errno == socket.EAI_AGAIN
                   else "err.other", name=f"EAI{exc.errno}")
    if isinstance(exc, TimeoutError):
        return msg("err.timeout")
    if isinstance(exc, OSError) and exc.errno in ERRNO_KEYS:
        return msg(ERRNO_KEYS[exc.errno])
    if isinstance(exc, OSError) and exc.errno:
        return msg("err.other", name=errno.errorcode.get(exc.errno, str(exc.errno)))
    return msg("err.other", name=type(exc).__name__)


def clock() -> Check:
    """The wall clock is NTP-synchronised (TLS and command expiry need it)."""
    now = time.strftime("%Y-%m-%d %H:%M", time.localtime(wall_ms() / 1000))
    if clock_synced():
        return passed(msg("c.clock"), msg("d.clock_ok", t=now))
    return failed(msg("c.clock"), msg("d.clock_fail", t=now), msg("h.clock"))


def disk(state_dir: str) -> Check:
    """Free space on the file system of the state directory, and not read-only."""
    name = msg("c.disk")
    try:
        st = os.statvfs(state_dir)
    except OSError as exc:
        return failed(name, msg("d.sd_fail", why=why(exc)), msg("h.sd"))
    if st.f_flag & os.ST_RDONLY:
        return failed(name, msg("d.disk_ro", path=state_dir), msg("h.sd"))
    free_mb = st.f_bavail * st.f_frsize / 1e6
    pct = 100.0 * st.f_bavail / st.f_blocks if st.f_blocks else 0.0
    detail = msg("d.disk", free=round(free_mb), pct=round(pct, 1), path=state_dir)
    if free_mb < DISK_MIN_MB or pct < DISK_MIN_PCT:
        return failed(name, detail, msg("h.disk"))
    return passed(name, detail)


def sd_write(state_dir: str) -> Check:
    """Write, fsync, drop from the page cache and read back a test file in the state dir."""
    name = msg("c.sd_write")
    path = Path(state_dir) / f".kotanet-selftest-{os.getpid()}"
    data = os.urandom(SD_TEST_BYTES)
    t0 = time.monotonic()
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # read from the card itself
            back = os.pread(fd, SD_TEST_BYTES, 0)
        finally:
            os.close(fd)
            path.unlink(missing_ok=True)
    except OSError as exc:
        return failed(name, msg("d.sd_fail", why=why(exc)), msg("h.sd"))
    ms = round((time.monotonic() - t0) * 1000)
    kb = SD_TEST_BYTES // 1024
    if back != data:
        return failed(name, msg("d.sd_mismatch"), msg("h.sd"))
    if ms > SD_SLOW_MS:
        return failed(name, msg("d.sd_slow", ms=ms, kb=kb), msg("h.sd"))
    return passed(name, msg("d.sd_ok", kb=kb, ms=ms))


def hostapd(cfg: AgentConfig) -> Check:
    """Every hostapd control socket answers PING with PONG."""
    name = msg("c.hostapd")
    if not cfg.users.hostapd_ctrl:
        return skipped(name, msg("d.not_configured"))
    paths = socket_paths(cfg.users.hostapd_ctrl)
    if not paths:
        return failed(name, msg("d.no_sockets", paths=", ".join(cfg.users.hostapd_ctrl)),
                      msg("h.hostapd"))
    for path in paths:
        try:
            with HostapdCtrl(path, max(1.0, cfg.users.hostapd_timeout_s)) as ctrl:
                if ctrl.request("PING").strip() != "PONG":
                    return failed(name, msg("d.socket_fail", path=path, why=msg("err.bad_reply")),
                                  msg("h.hostapd"))
        except HostapdError as exc:
            reason = msg("err.timeout") if exc.reason == "timeout" else msg(
                "err.missing") if exc.reason == "absent" else msg("err.refused")
            return failed(name, msg("d.socket_fail", path=path, why=reason), msg("h.hostapd"))
    return passed(name, msg("d.sockets_ok", n=len(paths)))


def dnsmasq(cfg: AgentConfig, lan: str, timeout_s: float = 2.0) -> Check:
    """dnsmasq answers a DNS query on the LAN address (DHCP comes from the same process)."""
    name = msg("c.dnsmasq")
    if not cfg.users.dnsmasq_leases:
        return skipped(name, msg("d.not_configured"))
    addrs = netlink.addresses(lan)
    if not addrs:
        return failed(name, msg("d.no_lan_addr", iface=lan), msg("h.lan_no_addr"))
    qid = int.from_bytes(os.urandom(2), "big")
    t0 = time.monotonic()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sk:
            sk.settimeout(timeout_s)
            sk.connect((addrs[0], 53))
            sk.send(dns_query(qid))
            for _ in range(8):  # skip stray datagrams; bounded by the timeout
                reply = sk.recv(512)
                if len(reply) >= 2 and int.from_bytes(reply[:2], "big") == qid:
                    ms = round((time.monotonic() - t0) * 1000, 1)
                    return passed(name, msg("d.lan_dns_ok", addr=addrs[0], ms=ms))
    except OSError as exc:
        return failed(name, msg("d.lan_dns_fail", addr=addrs[0], why=why(exc)), msg("h.dnsmasq"))
    return failed(name, msg("d.lan_dns_fail", addr=addrs[0], why=msg("err.bad_reply")),
                  msg("h.dnsmasq"))


def opennds(cfg: AgentConfig) -> Check:
    """`ndsctl status` answers (the captive portal of a park runs)."""
    name = msg("c.opennds")
    if not cfg.users.ndsctl:
        return skipped(name, msg("d.not_configured"))
    exe = sysexec.which(cfg.users.ndsctl)
    if exe is None:
        return failed(name, msg("d.cmd_fail", cmd=cfg.users.ndsctl, why=msg("err.missing")),
                      msg("h.opennds"))
    res = sysexec.run([exe, "status"], timeout=5.0)
    if res.ok:
        return passed(name, msg("d.answers"))
    reason = msg("err.timeout") if res.timed_out else msg("err.rc", rc=res.rc)
    return failed(name, msg("d.cmd_fail", cmd=f"{cfg.users.ndsctl} status", why=reason),
                  msg("h.opennds"))


def gpio(cfg: AgentConfig) -> Check:
    """GPIO hardware is there when [gpio] names pins (LEDs, button, relay)."""
    from agent.actuators.gpio import detect_factory  # the only gpiozero user

    name = msg("c.gpio")
    pins = sorted(v for v in cfg.gpio.model_dump().values() if v is not None)
    if not pins:
        return skipped(name, msg("d.not_configured"))
    factory = detect_factory()
    if factory is None:
        return failed(name, msg("d.gpio_fail"), msg("h.gpio"))
    return passed(name, msg("d.gpio_ok", pins=", ".join(map(str, pins)),
                            factory=type(factory).__name__))
