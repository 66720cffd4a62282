"""`kotanet-agent statuspage`: the read-only status page for phones on the node's own Wi-Fi.

A small process of its own (standard library HTTP server, no pydantic, no paho) so the
agent's memory stays as it is. It serves the agent's snapshot as HTML (``/``, Indonesian by
default, ``?lang=en``) and as JSON (``/status.json``). The listening socket is bound to the
LAN interface's address AND to the interface itself (SO_BINDTODEVICE, allowed unprivileged
since Linux 5.7), so a packet for that address arriving on an uplink finds no socket. Wildcard
addresses and uplink interfaces are refused. At most MAX_CLIENTS requests at once, each with
a socket timeout: a public Wi-Fi user cannot tie it up.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from agent import netlink
from agent.fieldtools.page import CSP, render_page
from agent.fieldtools.snapfile import is_stale, read_snapshot
from agent.fieldtools.view import build_view

log = logging.getLogger(__name__)

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
MAX_CLIENTS = 8
REQUEST_TIMEOUT_S = 5.0


class ListenError(Exception):
    """The page cannot listen where it was asked to (message says why; ``status`` = exit)."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


class StatusServer(ThreadingHTTPServer):
    """HTTP server bound to one address and one interface, with bounded concurrency."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], iface: str | None, snapshot: str,
                 refresh_s: int = 10) -> None:
        self.iface = iface
        self.snapshot_path = snapshot
        self.refresh_s = refresh_s
        self.slots = threading.BoundedSemaphore(MAX_CLIENTS)
        super().__init__(addr, StatusHandler)

    def server_bind(self) -> None:
        """Pin the socket to the LAN interface, then bind (no reverse DNS lookup)."""
        if self.iface:
            self.socket.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, self.iface.encode())
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()[:2]
        self.server_name, self.server_port = str(self.server_address[0]), int(
            self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        """Serve in a thread if a slot is free, else close the connection at once."""
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Release the slot after the request, whatever happened."""
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class StatusHandler(BaseHTTPRequestHandler):
    """GET/HEAD / (HTML) and /status.json; everything else 404 or 501."""

    server: StatusServer
    timeout = REQUEST_TIMEOUT_S
    server_version = "kotanet-statuspage"
    sys_version = ""

    def do_GET(self) -> None:
        """Answer one GET."""
        self._answer(head=False)

    def do_HEAD(self) -> None:
        """Answer one HEAD."""
        self._answer(head=True)

    def _answer(self, head: bool) -> None:
        url = urlsplit(self.path)
        snap = read_snapshot(self.server.snapshot_path)
        if url.path == "/":
            lang = (parse_qs(url.query).get("lang") or ["id"])[0]
            lang = lang if lang in ("id", "en") else "id"
            view = build_view(snap, lang, self.server.snapshot_path)
            body = render_page(view, lang, self.server.refresh_s).encode()
            self._send(200, "text/html; charset=utf-8", body, head)
        elif url.path == "/status.json":
            doc: dict[str, Any] = snap if snap is not None else {"schema": None}
            if snap is not None:
                doc["stale"] = is_stale(snap)
            self._send(200 if snap else 503, "application/json",
                       json.dumps(doc, ensure_ascii=False).encode(), head)
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n", head)

    def _send(self, code: int, ctype: str, body: bytes, head: bool) -> None:
        self.send_response(code)
        for k, v in (("Content-Type", ctype), ("Content-Length", str(len(body))),
                     ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff"),
                     ("Content-Security-Policy", CSP), ("Referrer-Policy", "no-referrer")):
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to debug logging (journald in RAM), never stderr spam."""
        log.debug("%s %s", self.address_string(), format % args)


def iface_of(addr: str) -> str | None:
    """The interface that holds ``addr``, None when none does."""
    for _idx, name in socket.if_nameindex():
        if addr in netlink.addresses(name):
            return name
    return None


def parse_listen(listen: str) -> tuple[str, int]:
    """ADDRESS:PORT -> (address, port); ListenError if malformed or a wildcard address."""
    host, _, p = listen.rpartition(":")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
        port = int(p)
    except ValueError:
        raise ListenError(f"--listen {listen!r}: want ADDRESS:PORT, e.g. 192.168.50.1:80"
                          ) from None
    if ip.is_unspecified:
        raise ListenError(f"--listen {listen}: a wildcard address would also answer on the "
                          "uplinks; give the LAN address")
    return str(ip), port


def resolve_listen(listen: str | None, iface: str, port: int, uplinks: list[str],
                   wait_s: float, sleep: Callable[[float], None] = time.sleep,
                   ) -> tuple[str, int, str]:
    """(address, port, interface) to serve on; ListenError if it would not be LAN-only."""
    want = parse_listen(listen) if listen else None
    addr: str | None = None
    dev: str | None = None
    for attempt in range(int(wait_s) + 1):  # bounded: the LAN address may come up after boot
        if want is not None:
            addr, port = want
            dev = iface_of(addr)
        else:
            addrs = netlink.addresses(iface)
            addr, dev = (addrs[0], iface) if addrs else (None, None)
        if addr is not None and dev is not None:
            break
        if attempt < int(wait_s):
            sleep(1.0)
    if addr is None or dev is None:
        what = f"address {want[0]}" if want else f"an IPv4 address on {iface}"
        raise ListenError(f"no interface holds {what} (waited {wait_s:.0f}s)", status=1)
    if dev in uplinks:
        raise ListenError(f"{addr} is on uplink {dev}: the status page is for the LAN only")
    return addr, port, dev


def serve(addr: str, port: int, iface: str, snapshot: str, refresh_s: int = 10) -> None:
    """Serve until SIGTERM/SIGINT (KeyboardInterrupt)."""
    srv = StatusServer((addr, port), iface, snapshot, refresh_s)
    log.info("status page on http://%s:%d/ (interface %s), snapshot %s", addr, srv.server_port,
             iface, snapshot)
    try:
        srv.serve_forever(poll_interval=1.0)
    finally:
        srv.server_close()
