"""The leader's delivery loop: the outbox's messages, per route in order, retried with backoff.

Only the leader sends (``is_leader`` is asked before every claim). Per route, the oldest unsent
row is the only one tried: a later message never overtakes an earlier one, and a receiver that
was down gets the backlog in order when it returns. A failed attempt waits
min(retry_max, retry_min * 2^(attempts-1)) scaled by a random factor in [0.5, 1) (jitter), or
what the receiver asked for (Retry-After / Telegram's retry_after) if that is longer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from central.clock import wall_ms
from central.notify.channels import Channel, DeliveryError
from central.notify.config import NotifySection, RouteSection
from central.notify.outbox import OutboxStore

log = logging.getLogger(__name__)
REPORT_ROUTE = "weekly-report"  # the outbox route of the weekly budget e-mail
MAX_PER_ROUND = 50  # messages one route delivers per round (the loop is bounded)
KEEP_MS = 90 * 86_400_000  # sent and skipped rows are kept 90 days (then pruned hourly)
PRUNE_EVERY_MS = 3_600_000


def report_route(cfg: NotifySection) -> RouteSection | None:
    """The pseudo-route of the weekly report (its channel, recipients and language)."""
    rep = cfg.report
    if not rep.channel:
        return None
    return RouteSection(id=REPORT_ROUTE, channel=rep.channel, to=rep.to, lang=rep.lang,
                        min_severity="info")


class Sender:
    """Delivers the outbox; ``drain`` is one bounded round, ``run`` loops until stop()."""

    def __init__(self, outbox: OutboxStore, cfg: NotifySection, instance: str,
                 is_leader: Callable[[], bool] = lambda: True, poll_s: float = 1.0,
                 clock_ms: Callable[[], int] = wall_ms, rng: random.Random | None = None) -> None:
        self.outbox, self.cfg, self.instance = outbox, cfg, instance
        self.is_leader, self.poll_s, self.clock_ms = is_leader, poll_s, clock_ms
        self.rng = rng or random.Random()
        self.channels = {c.id: Channel(c) for c in cfg.channels}
        self.routes = {r.id: r for r in cfg.routes}
        rep = report_route(cfg)
        if rep is not None:
            self.routes[rep.id] = rep
        self.sent = 0
        self.failures = 0
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._pruned_ms = 0

    def backoff_ms(self, attempts: int, retry_after_s: float | None = None) -> int:
        """The wait before the next attempt after ``attempts`` failed ones."""
        base = min(self.cfg.retry_max_s, self.cfg.retry_min_s * 2 ** max(0, attempts - 1))
        wait = base * (0.5 + self.rng.random() / 2)
        if retry_after_s is not None:
            wait = max(wait, min(retry_after_s, self.cfg.retry_max_s))
        return int(wait * 1000)

    async def deliver(self, row: dict[str, Any]) -> bool:
        """Send one claimed row and record the outcome; True if delivered."""
        route = self.routes.get(row["route"])
        channel = self.channels.get(route.channel) if route else None
        try:
            if route is None or channel is None:
                raise DeliveryError(f"route {row['route']!r} is not configured (any more)")
            try:
                await channel.send(row["payload"], route)
            except DeliveryError:
                raise
            except Exception as exc:  # a malformed row must not spin: back off like a failure
                log.exception("notification %s to route %s: unexpected error", row["id"],
                              row["route"])
                raise DeliveryError(f"internal error: {type(exc).__name__}") from None
        except DeliveryError as exc:
            self.failures += 1
            wait = self.backoff_ms(int(row["attempts"]), exc.retry_after_s)
            log.warning("notification %s to route %s failed (attempt %d, next in %.1f s): %s",
                        row["id"], row["route"], row["attempts"], wait / 1000, exc)
            await asyncio.to_thread(self.outbox.mark_failed, row["id"], str(exc),
                                    self.clock_ms() + wait)
            return False
        await asyncio.to_thread(self.outbox.mark_sent, row["id"], self.clock_ms())
        self.sent += 1
        log.info("notification %s (%s) delivered to route %s", row["id"], row["state"],
                 row["route"])
        return True

    async def _route(self, route: str) -> int:
        done = 0
        for _ in range(MAX_PER_ROUND):
            if not self.is_leader() or self._stop.is_set():
                break
            row = await asyncio.to_thread(self.outbox.claim, route, self.instance,
                                          self.clock_ms())
            if row is None or not await self.deliver(row):
                break
            done += 1
        return done

    async def drain(self) -> int:
        """One round over every route with a due message; returns messages delivered."""
        if not self.is_leader():
            return 0
        now = self.clock_ms()
        if now - self._pruned_ms >= PRUNE_EVERY_MS:
            self._pruned_ms = now
            await asyncio.to_thread(self.outbox.prune, now - KEEP_MS)
        due = await asyncio.to_thread(self.outbox.routes_due, self.clock_ms())
        return sum(await asyncio.gather(*(self._route(r) for r in due)))

    def wake(self) -> None:
        """Deliver now rather than at the next poll (new rows were queued)."""
        self._wake.set()

    async def run(self) -> None:
        """drain() every poll_s (or when woken) until stop(); errors are logged."""
        while not self._stop.is_set():
            try:
                await self.drain()
            except Exception:
                log.exception("notification delivery round failed")
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    def stop(self) -> None:
        """Ask run() to finish."""
        self._stop.set()
        self._wake.set()

    async def lifetime(self, _app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: run for the app's life."""
        task = asyncio.create_task(self.run())
        yield
        self.stop()
        await task
