"""A persistent delivery gap makes the leader ask that node to resync (re-send its backlog).

A gap is a range of record seqs missing after the grace period that the agent did not report
as dropped: the records are still in its outbox (it deletes only on receipt), so a `resync`
command makes it re-publish its birth and re-send everything unreceipted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from central.clock import wall_ms

log = logging.getLogger(__name__)


class GapResync:
    """Leader-only: one `resync` per node with gaps, at most every ``min_repeat_s``."""

    def __init__(self, storage: Any, service: Any, is_leader: Callable[[], bool],
                 grace_ms: int, min_repeat_s: float = 600.0, interval_s: float = 30.0,
                 clock_ms: Callable[[], int] = wall_ms) -> None:
        self.storage = storage
        self.service = service
        self.is_leader = is_leader
        self.grace_ms = grace_ms
        self.min_repeat_ms = int(min_repeat_s * 1000)
        self.interval_s = interval_s
        self.clock_ms = clock_ms
        self._last: dict[str, int] = {}

    def tick(self) -> list[str]:
        """Send resync to online nodes with persistent gaps; returns the nodes asked."""
        if not self.is_leader():
            return []
        now = self.clock_ms()
        gapped = {g.node for g in self.storage.gaps(now, self.grace_ms)}
        if not gapped:
            return []
        asked = []
        for n in self.storage.list_nodes():
            node = n["node"]
            if node not in gapped or not n.get("online"):
                continue  # an offline node replays everything when it reconnects anyway
            if now - self._last.get(node, -self.min_repeat_ms) < self.min_repeat_ms:
                continue
            try:
                self.service.issue(node, n["site"], "resync", {}, 60, origin="gap")
            except Exception:
                log.exception("resync for %s not sent", node)
                continue
            self._last[node] = now
            asked.append(node)
            log.info("node %s has a persistent delivery gap: resync requested", node)
        return asked

    async def lifetime(self, _app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup_ctx: tick every interval_s for the app's lifetime."""
        async def run() -> None:
            while True:
                await asyncio.sleep(self.interval_s)
                try:
                    await asyncio.to_thread(self.tick)
                except Exception:
                    log.exception("gap resync tick failed")

        task = asyncio.create_task(run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
