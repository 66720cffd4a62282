"""Wire notifications into the central app: outbox, sender and weekly report for its life."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from central.alerts.incident_store import NotifyHook
from central.noc.store import NocStore
from central.notify.config import NotifySection
from central.notify.outbox import OutboxStore, enqueue_hook
from central.notify.report import ReportScheduler
from central.notify.sender import Sender
from central.storage.base import Storage

SENDER = web.AppKey("notify_sender", Sender)


def setup_notify(app: web.Application, cfg: NotifySection, db_path: str | Path,
                 storage: Storage, instance: str,
                 is_leader: Callable[[], bool]) -> tuple[NotifyHook | None, Callable[[], None]]:
    """Start the outbox sender (and the weekly report check) for the app's life; returns the
    hook that queues incident notifications and the sender's wake-up."""
    outbox = OutboxStore(db_path)
    sender = Sender(outbox, cfg, instance, is_leader)
    app[SENDER] = sender
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
