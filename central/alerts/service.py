"""The alert evaluation loop and its /metrics lines.

Every ``interval_s`` the leader reads the nodes from central's storage, runs the pure rules
(central.alerts.rules) and stores openings and resolutions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiohttp import web

from central.alerts.inputs import InputReader
from central.alerts.model import AlertConfig, AlertState, Opened, Track
from central.alerts.rules import evaluate
from central.alerts.store import AlertStore
from central.clock import wall_ms

log = logging.getLogger(__name__)


class AlertService:
    """One central instance's alert evaluator; only the leader writes."""

    def __init__(self, store: AlertStore, reader: InputReader, cfg: AlertConfig,
                 is_leader: Callable[[], bool] = lambda: True, interval_s: float = 5.0,
                 clock_ms: Callable[[], int] = wall_ms,
                 after_round: Callable[[int], None] | None = None) -> None:
        self.store, self.reader, self.cfg = store, reader, cfg
        self.after_round = after_round  # the incident round (central.alerts.api)
        self.is_leader, self.interval_s, self.clock_ms = is_leader, interval_s, clock_ms
        self.state: AlertState = {}
        self.errors = 0
        self.rounds = 0
        self._stop = asyncio.Event()

    def _synced_state(self) -> AlertState:
        """Our trackers, with 'active' taken from the table (another leader may have written)."""
        active = self.store.active_keys()
        state = {k: t if t.active == (k in active) else Track(active=k in active)
                 for k, t in self.state.items()}
        state.update({k: Track(active=True) for k in active - state.keys()})
        return state

    def tick(self) -> int:
        """One round: evaluate and store if this instance leads; returns rows changed."""
        changed = 0
        if self.is_leader():
            now = self.clock_ms()
            actions, new = evaluate(self.reader.read(now), self._synced_state(), now, self.cfg)
            changed = self.store.apply(actions)
            self.state = new
            if self.after_round is not None:
                self.after_round(now)
            for a in actions:
                if isinstance(a, Opened):
                    log.warning("alert opened: %s %s (%s): %s", a.node, a.kind, a.severity,
                                a.message_en)
                else:
                    log.info("alert resolved: %s %s", a.node, a.kind)
        else:
            self.state = {}  # a new leader starts its timers afresh
        return changed

    async def run(self) -> None:
        """Tick every interval_s until stop() (errors are logged and counted)."""
        while not self._stop.is_set():
            try:
                await asyncio.to_thread(self.tick)
                self.rounds += 1
            except Exception:
                self.errors += 1
                log.exception("alert evaluation failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval_s)

    def stop(self) -> None:
        """Ask run() to finish after the current tick."""
        self._stop.set()


ALERTS = web.AppKey("alerts", AlertService)
