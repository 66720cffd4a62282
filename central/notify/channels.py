"""Delivery over Telegram (Bot API sendMessage), e-mail (SMTP + STARTTLS) and webhooks.

Each ``send`` delivers one queued message (``outbox.payload``) to one route or raises
DeliveryError with a text that never holds a secret (the bot token sits in the Bot API URL, so
no URL or library message is passed on unfiltered).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiohttp

from central.notify.config import ChannelSection, RouteSection

SIGNATURE_HEADER = "X-Kotanet-Signature"  # sha256=<hex HMAC-SHA256 of the body>
IDEMPOTENCY_HEADER = "X-Kotanet-Idempotency-Key"
EVENT_HEADER = "X-Kotanet-Event"


class DeliveryError(Exception):
    """The receiver did not take the message; retry_after_s if it said when to retry."""

    def __init__(self, text: str, retry_after_s: float | None = None) -> None:
        super().__init__(text)
        self.retry_after_s = retry_after_s


def sign(secret: bytes, body: bytes) -> str:
    """The webhook signature header value of body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def _scrub(text: str, channel: ChannelSection) -> str:
    secret = channel.secret.get_secret_value() if channel.secret else ""
    return text.replace(secret, "***") if secret else text


class Channel:
    """One configured channel; ``send`` delivers a payload to a route of it."""

    def __init__(self, cfg: ChannelSection) -> None:
        self.cfg = cfg

    async def send(self, msg: dict[str, Any], route: RouteSection) -> None:
        """Deliver msg (subject, text, idempotency_key, optional attachments: a list of
        {filename, content_type, text}; e-mail only) or raise DeliveryError."""
        try:
            if self.cfg.type == "telegram":
                await self._telegram(msg, route)
            elif self.cfg.type == "webhook":
                await self._webhook(msg)
            else:
                await asyncio.to_thread(self._email, msg, route.to)
        except DeliveryError as exc:
            raise DeliveryError(_scrub(str(exc), self.cfg), exc.retry_after_s) from None
        except (aiohttp.ClientError, TimeoutError, OSError, smtplib.SMTPException,
                ssl.SSLError) as exc:
            raise DeliveryError(_scrub(f"{type(exc).__name__}: {exc}", self.cfg)) from None

    def _timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(total=self.cfg.timeout_s)

    async def _telegram(self, msg: dict[str, Any], route: RouteSection) -> None:
        assert self.cfg.secret is not None  # config guarantees a token
        url = (f"{self.cfg.api_base.rstrip('/')}/bot{self.cfg.secret.get_secret_value()}"
               "/sendMessage")
        body = {"chat_id": route.chat_id, "text": msg["text"][:4096],
                "disable_web_page_preview": True}
        async with aiohttp.ClientSession(timeout=self._timeout()) as http, \
                http.post(url, json=body) as r:
            try:
                data = await r.json(content_type=None)
            except (ValueError, aiohttp.ContentTypeError):
                data = {}
        if r.status == 200 and isinstance(data, dict) and data.get("ok") is True:
            return
        desc = str(data.get("description", "")) if isinstance(data, dict) else ""
        retry = ((data.get("parameters") or {}).get("retry_after")
                 if isinstance(data, dict) else None)
        raise DeliveryError(f"telegram answered HTTP {r.status}: {desc[:200]}",
                            float(retry) if isinstance(retry, int | float) else None)

    async def _webhook(self, msg: dict[str, Any]) -> None:
        assert self.cfg.secret is not None  # config guarantees a key
        body = json.dumps(msg, separators=(",", ":"), sort_keys=True).encode()
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: sign(self.cfg.secret.get_secret_value().encode(), body),
                   IDEMPOTENCY_HEADER: msg["idempotency_key"],
                   EVENT_HEADER: str(msg.get("event", ""))}
        async with aiohttp.ClientSession(timeout=self._timeout()) as http, \
                http.post(self.cfg.url, data=body, headers=headers) as r:
            await r.read()
        if not 200 <= r.status < 300:
            retry = r.headers.get("Retry-After", "")
            raise DeliveryError(f"webhook answered HTTP {r.status}",
                                float(retry) if retry.isdecimal() else None)

    def _email(self, msg: dict[str, Any], to: list[str]) -> None:
        mail = EmailMessage()
        mail["Subject"] = msg["subject"]
        mail["From"] = self.cfg.from_addr
        mail["To"] = ", ".join(to)
        mail["Date"] = formatdate(localtime=False)
        key = msg["idempotency_key"]
        mail["Message-ID"] = f"<{key}@kotanet>"  # the same on every retry
        mail[IDEMPOTENCY_HEADER] = key
        mail.set_content(msg["text"])
        for att in msg.get("attachments") or []:
            main, _, sub = str(att["content_type"]).partition("/")
            mail.add_attachment(str(att["text"]).encode(), maintype=main, subtype=sub,
                                filename=att["filename"])
        with smtplib.SMTP(self.cfg.host, self.cfg.port, timeout=self.cfg.timeout_s) as smtp:
            smtp.ehlo()
            if self.cfg.starttls:
                if not smtp.has_extn("starttls"):
                    raise DeliveryError("SMTP server does not offer STARTTLS")
                smtp.starttls(context=ssl.create_default_context(cafile=self.cfg.ca_file))
                smtp.ehlo()
            if self.cfg.username and self.cfg.secret is not None:
                smtp.login(self.cfg.username, self.cfg.secret.get_secret_value())
            smtp.send_message(mail)
