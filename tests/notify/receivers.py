"""Real loopback receivers for notification tests: a webhook endpoint checking the HMAC, an
endpoint speaking the Telegram Bot API's sendMessage shapes, and an aiosmtpd SMTP server that
offers STARTTLS with a self-signed certificate made with ``cryptography``."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class HttpReceiver:
    """Webhook + Telegram endpoint on 127.0.0.1. ``fail`` > 0 answers 503 that many times;
    ``hold`` (an idempotency key) makes that request hang until ``release`` is set."""

    secret: bytes = b"webhook-key"
    token: str = "123456:TEST-token"
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    bad_signatures: int = 0
    telegram: list[dict[str, Any]] = field(default_factory=list)
    fail: int = 0
    hold: str | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        want = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Kotanet-Signature", ""), want):
            self.bad_signatures += 1
            return web.Response(status=401)
        key = request.headers["X-Kotanet-Idempotency-Key"]
        if key == self.hold:
            self.keys.append(key)
            self.arrived.set()
            await self.release.wait()
            return web.Response(status=200)
        if self.fail > 0:
            self.fail -= 1
            return web.Response(status=503)
        self.keys.append(key)
        if key not in {w["idempotency_key"] for w in self.webhooks}:  # receiver-side dedup
            self.webhooks.append(json.loads(body))
        return web.Response(status=204)

    async def _telegram(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401,
                                      "description": "Unauthorized"}, status=401)
        data = await request.json()
        if not isinstance(data.get("chat_id"), str | int) or not data.get("text"):
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": "Bad Request: message text is empty"},
                                     status=400)
        self.telegram.append(data)
        return web.json_response({"ok": True, "result": {
            "message_id": len(self.telegram), "date": 0, "chat": {"id": data["chat_id"]},
            "text": data["text"]}})

    async def start(self, port: int | None = None) -> HttpReceiver:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        app.router.add_post("/bot{token}/sendMessage", self._telegram)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = port or free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()


def self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cp, kp = tmp / "smtp.crt", tmp / "smtp.key"
    cp.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    kp.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    return cp, kp


class MailBox:
    """aiosmtpd handler keeping every message with whether it came over TLS."""

    def __init__(self) -> None:
        self.mails: list[tuple[bytes, bool, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mails.append((envelope.content, session.ssl is not None, list(envelope.rcpt_tos)))
        return "250 OK"


def smtp_server(tmp: Path) -> tuple[Controller, MailBox, Path, int]:
    """A started aiosmtpd on loopback that offers (and requires) STARTTLS."""
    cert, key = self_signed(tmp)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    box = MailBox()
    port = free_port()
    ctl = Controller(box, hostname="127.0.0.1", port=port, tls_context=ctx,
                     require_starttls=True)
    ctl.start()
    return ctl, box, cert, port
