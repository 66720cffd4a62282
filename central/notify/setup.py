"""Wire notifications into the central app: outbox, sender and weekly report for its life."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from central.alerts.incident_store import NotifyHook
from central.api.auth import add_routes
from central.api.jsonout import json_response
from central.noc.store import NocStore
from central.notify.config import NotifySection
from central.notify.outbox import OutboxStore, enqueue_hook
from central.notify.report import ReportScheduler
from central.notify.sender import Sender
from central.storage.base import Storage

SENDER = web.AppKey("notify_sender", Sender)
log = logging.getLogger(__name__)


def public_config(cfg: NotifySection) -> dict[str, Any]:
    """Channels, routes and the report as configured, without any secret: for each channel
    only where its secret comes from (file path or variable name) and whether it was read."""
    channels = []
    for c in cfg.channels:
        file, env = {"telegram": (c.bot_token_file, c.bot_token_env),
                     "email": (c.password_file, c.password_env),
                     "webhook": (c.secret_file, c.secret_env)}[c.type]
        base: dict[str, Any] = {"id": c.id, "type": c.type, "secret_from": (
            f"file {file}" if file else f"environment {env}" if env else None),
                "secret_loaded": c.secret is not None}
        if c.type == "telegram":
            base["api_base"] = c.api_base
        elif c.type == "email":
            base.update(host=c.host, port=c.port, starttls=c.starttls, username=c.username,
                        from_addr=c.from_addr)
        else:
            base["url"] = c.url
        channels.append(base)
    return {"enabled": cfg.enabled, "base_url": cfg.base_url, "timezone": cfg.timezone,
            "settle_s": cfg.settle_s, "resolve_hold_s": cfg.resolve_hold_s,
            "channels": channels, "routes": [r.model_dump() for r in cfg.routes],
            "report": cfg.report.model_dump()}


async def get_notify(request: web.Request) -> web.Response:
    """GET /api/v1/notify (admin): the notification settings without secrets, outbox counts."""
    sender = request.app[SENDER]
    counts = await asyncio.to_thread(sender.outbox.counts)
    return json_response({**public_config(sender.cfg), "outbox": counts})


def setup_notify(app: web.Application, cfg: NotifySection, db_path: str | Path,
                 storage: Storage, instance: str,
                 is_leader: Callable[[], bool]) -> tuple[NotifyHook | None, Callable[[], None]]:
    """Start the outbox sender (and the weekly report check) for the app's life; returns the
    hook that queues incident notifications and the sender's wake-up."""
    outbox = OutboxStore(db_path)
    sender = Sender(outbox, cfg, instance, is_leader)
    app[SENDER] = sender
    add_routes(app, [("GET", "/api/v1/notify", get_notify, "admin")])
    app.cleanup_ctx.append(sender.lifetime)

    def sites() -> dict[str, dict[str, object]]:
        store = NocStore(db_path)
        try:
            return store.sites()
        finally:
            store.close()
    app.cleanup_ctx.append(ReportScheduler(storage, sites, outbox, cfg, is_leader,
                                           sender.wake).lifetime)

    async def close(_app: web.Application) -> None:
        outbox.close()
    app.on_cleanup.append(close)
    return (enqueue_hook(cfg) if cfg.enabled else None), sender.wake
