"""sd_notify without dependencies: READY=1, WATCHDOG=1 and STATUS= over $NOTIFY_SOCKET."""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    """Sends datagrams to systemd's notify socket; a no-op when not run by systemd."""

    def __init__(self, address: str | None) -> None:
        if address and address.startswith("@"):
            address = "\0" + address[1:]  # abstract namespace
        self.address = address or None
        self.watchdog_usec = 0
        self.sent: list[str] = []  # last messages, for diagnostics

    @classmethod
    def from_env(cls) -> Notifier:
        """A notifier for $NOTIFY_SOCKET (and $WATCHDOG_USEC), or a no-op one."""
        n = cls(os.environ.get("NOTIFY_SOCKET"))
        try:
            usec = int(os.environ.get("WATCHDOG_USEC", "0"))
        except ValueError:
            usec = 0
        pid = os.environ.get("WATCHDOG_PID")
        n.watchdog_usec = usec if pid in (None, str(os.getpid())) else 0
        return n

    @property
    def enabled(self) -> bool:
        """True if there is a socket to notify."""
        return self.address is not None

    def notify(self, message: str) -> bool:
        """Send one notification; False (logged at debug) if it could not be sent."""
        if self.address is None:
            return False
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(self.address)
                s.sendall(message.encode())
        except OSError as exc:
            log.debug("sd_notify %r failed: %s", message, exc)
            return False
        self.sent = (self.sent + [message])[-10:]
        return True

    def ready(self, status: str = "") -> bool:
        """Tell systemd start-up is complete (Type=notify)."""
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        """Ping the watchdog; call only after real progress (a sample stored)."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        """Tell systemd a clean stop has begun."""
        return self.notify("STOPPING=1")
