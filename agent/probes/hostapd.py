"""A minimal hostapd control-interface client (UNIX datagram: PING, STA-FIRST, STA-NEXT)."""

from __future__ import annotations

import itertools
import os
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

MAX_STATIONS = 2048  # bound on the STA-NEXT walk of one radio
_counter = itertools.count()


class HostapdError(Exception):
    """The control socket is absent, refused or did not answer; ``reason`` says which."""

    def __init__(self, reason: str, path: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Station:
    """One station as hostapd reports it."""

    mac: str
    flags: frozenset[str]
    signal_dbm: int | None = None
    inactive_msec: int | None = None

    @property
    def associated(self) -> bool:
        """hostapd has the station associated."""
        return "ASSOC" in self.flags

    @property
    def authorized(self) -> bool:
        """The 802.1X/WPA port is open (or open network) for this station."""
        return "AUTHORIZED" in self.flags


def parse_station(text: str) -> Station | None:
    """Parse one STA-FIRST/STA-NEXT reply; None for the empty end-of-list or FAIL reply."""
    lines = text.strip().splitlines()
    if not lines or lines[0].strip() in ("", "FAIL", "UNKNOWN COMMAND"):
        return None
    mac = lines[0].strip().lower()
    if mac.count(":") != 5:
        return None
    kv = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    flags = frozenset(f for f in kv.get("flags", "").replace("]", "").split("[") if f)

    def num(key: str) -> int | None:
        try:
            return int(kv[key])
        except (KeyError, ValueError):
            return None

    return Station(mac, flags, num("signal"), num("inactive_msec"))


class HostapdCtrl:
    """One request/response conversation with a hostapd control socket."""

    def __init__(self, path: str, timeout_s: float = 0.5) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._sk: socket.socket | None = None
        self._local = ""

    def __enter__(self) -> HostapdCtrl:
        if not Path(self.path).exists():
            raise HostapdError("absent", self.path)
        sk = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._local = os.path.join(tempfile.gettempdir(),
                                   f"kotanet-hapd-{os.getpid()}-{next(_counter)}")
        try:
            sk.bind(self._local)
            sk.connect(self.path)
        except OSError as exc:
            sk.close()
            self._unlink()
            raise HostapdError(f"connect: {exc.strerror}", self.path) from None
        self._sk = sk
        return self

    def __exit__(self, *exc: object) -> None:
        if self._sk is not None:
            self._sk.close()
            self._sk = None
        self._unlink()

    def _unlink(self) -> None:
        try:
            os.unlink(self._local)
        except OSError:
            pass

    def request(self, cmd: str) -> str:
        """Send one command and return its reply, bounded by the timeout."""
        assert self._sk is not None, "use HostapdCtrl as a context manager"
        deadline = time.monotonic() + self.timeout_s
        try:
            self._sk.send(cmd.encode())
            for _ in range(64):  # skip unsolicited "<N>EVENT" lines if attached elsewhere
                self._sk.settimeout(max(0.001, deadline - time.monotonic()))
                data = self._sk.recv(16384).decode(errors="replace")
                if not data.startswith("<"):
                    return data
        except TimeoutError:
            raise HostapdError("timeout", self.path) from None
        except OSError as exc:
            raise HostapdError(f"io: {exc.strerror}", self.path) from None
        raise HostapdError("timeout", self.path)

    def stations(self) -> list[Station]:
        """PING, then walk the station list with STA-FIRST / STA-NEXT."""
        if self.request("PING").strip() != "PONG":
            raise HostapdError("bad PING reply", self.path)
        out: list[Station] = []
        sta = parse_station(self.request("STA-FIRST"))
        while sta is not None and len(out) < MAX_STATIONS:
            out.append(sta)
            sta = parse_station(self.request(f"STA-NEXT {sta.mac}"))
        return out


def socket_paths(entries: list[str]) -> list[str]:
    """Expand configured entries: a directory means every socket inside it."""
    paths: list[str] = []
    for entry in entries:
        p = Path(entry)
        if p.is_dir():
            paths += sorted(str(c) for c in p.iterdir() if c.is_socket())
        else:
            paths.append(entry)
    return paths
