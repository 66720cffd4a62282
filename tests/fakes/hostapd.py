"""A fake hostapd control socket speaking hostapd's real UNIX datagram protocol.

Used only because the test machines have no Wi-Fi radio: PING -> PONG, STA-FIRST / STA-NEXT
<mac> answer in hostapd's ``hostapd_ctrl_iface_sta_mib`` format, an unknown MAC -> FAIL,
the end of the list -> an empty reply. ``silent=True`` makes a socket that never answers.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass


@dataclass
class FakeStation:
    """A station as the fake radio will report it."""

    mac: str
    flags: str = "[AUTH][ASSOC][AUTHORIZED][WMM][HT]"
    signal: int = -55
    inactive_msec: int = 1200

    def mib(self, aid: int) -> str:
        """The station block hostapd prints for STA-FIRST/STA-NEXT."""
        return (f"{self.mac}\nflags={self.flags}\naid={aid}\ncapability=0x0\n"
                f"listen_interval=10\nsupported_rates=82 84 8b 96 0c 12 18 24\n"
                f"timeout_next=NULLFUNC POLL\nrx_packets=120\ntx_packets=95\n"
                f"rx_bytes=23011\ntx_bytes=40400\ninactive_msec={self.inactive_msec}\n"
                f"signal={self.signal}\nrx_rate_info=650 mcs 7 shortGI\n"
                f"tx_rate_info=650 mcs 7 shortGI\nconnected_time=42\n")


class FakeHostapd:
    """One fake radio's control socket at ``path``; use as a context manager."""

    def __init__(self, path: str, stations: list[FakeStation], silent: bool = False) -> None:
        self.path = path
        self.stations = stations
        self.silent = silent
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._sk = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeHostapd:
        self._sk.bind(self.path)
        self._sk.settimeout(0.05)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sk.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def reply(self, cmd: str) -> str:
        """hostapd's answer to one control command."""
        if cmd == "PING":
            return "PONG\n"
        if cmd == "STA-FIRST":
            return self.stations[0].mib(1) if self.stations else ""
        if cmd.startswith("STA-NEXT "):
            mac = cmd.split(" ", 1)[1].strip().lower()
            idx = next((i for i, s in enumerate(self.stations) if s.mac.lower() == mac), None)
            if idx is None:
                return "FAIL\n"
            return self.stations[idx + 1].mib(idx + 2) if idx + 1 < len(self.stations) else ""
        return "UNKNOWN COMMAND\n"

    def _serve(self) -> None:
        while not self._stop.is_set():  # bounded by the stop event set in __exit__
            try:
                data, addr = self._sk.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            cmd = data.decode(errors="replace").strip()
            self.requests.append(cmd)
            if self.silent or not addr:
                continue
            try:
                self._sk.sendto(self.reply(cmd).encode(), addr)
            except OSError:
                pass
