"""Alert API (list as viewer, ack as operator), the evaluation loop, Prometheus lines.

``setup_alerts(app, storage, db_path)`` adds the routes and a background task that lives
exactly as long as the app: every ``interval_s`` the leader (``is_leader()``) reads the nodes
from central's storage, runs the pure rules (central.alerts) and stores openings/resolutions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from central.alerts import SEVERITIES, AlertConfig, AlertState, Opened, Track, evaluate
from central.alerts_store import STATES, AlertStore, AlertStoreError, InputReader
from central.storage import Storage
from central.web import AUTH, Handler, guard

log = logging.getLogger(__name__)

MAX_LIMIT = 5000


def wall_ms() -> int:
    """Wall-clock milliseconds."""
    return int(time.time() * 1000)


class AlertService:
    """One central instance's alert evaluator; only the leader writes."""

    def __init__(self, store: AlertStore, reader: InputReader, cfg: AlertConfig,
                 is_leader: Callable[[], bool] = lambda: True, interval_s: float = 5.0,
                 clock_ms: Callable[[], int] = wall_ms) -> None:
        self.store, self.reader, self.cfg = store, reader, cfg
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


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def list_alerts(request: web.Request) -> web.Response:
    """Alerts newest first; ?state=open|acknowledged|resolved|active, ?node=, ?limit=."""
    state = request.query.get("state") or None
    if state is not None and state not in (*STATES, "active"):
        return _error(400, f"state must be one of {', '.join((*STATES, 'active'))}")
    limit = _decimal(request.query.get("limit", "500"), MAX_LIMIT)
    if limit is None or limit < 1:
        return _error(400, f"limit must be an integer 1..{MAX_LIMIT}")
    rows = await asyncio.to_thread(request.app[ALERTS].store.list_alerts, state,
                                   request.query.get("node") or None, limit)
    return web.json_response({"alerts": rows})


def _decimal(raw: str, high: int) -> int | None:
    """raw as an int in 0..high if it is plain ASCII digits (not '²' or '٣'), else None."""
    if not (raw.isascii() and raw.isdecimal()) or len(raw) > len(str(high)):
        return None
    value = int(raw)
    return value if value <= high else None


def _alert_id(request: web.Request) -> int | web.Response:
    """The path's alert id, or a 400 response naming the problem."""
    raw = request.match_info["id"]
    alert_id = _decimal(raw, 2**63 - 1)
    if alert_id is None:
        return _error(400, f"alert id must be a decimal integer, got {raw[:40]!r}")
    return alert_id


async def get_alert(request: web.Request) -> web.Response:
    """One alert with its evidence."""
    alert_id = _alert_id(request)
    if isinstance(alert_id, web.Response):
        return alert_id
    row = await asyncio.to_thread(request.app[ALERTS].store.get, alert_id)
    if row is None:
        return _error(404, f"unknown alert {request.match_info['id']!r}")
    return web.json_response(row)


async def ack_alert(request: web.Request) -> web.Response:
    """Acknowledge an open alert (idempotent); 409 if it is already resolved."""
    alert_id = _alert_id(request)
    if isinstance(alert_id, web.Response):
        return alert_id
    who = await asyncio.to_thread(request.app[AUTH].resolve, request.headers.get("Authorization"))
    svc = request.app[ALERTS]
    row = await asyncio.to_thread(svc.store.ack, alert_id, who.name if who else "",
                                  svc.clock_ms())
    if row is None:
        return _error(404, f"unknown alert {alert_id}")
    if row["state"] == "resolved":
        return web.json_response({"error": "alert is already resolved", "alert": row},
                                 status=409)
    return web.json_response(row)


ROUTES: list[tuple[str, str, Handler, str]] = [
    ("GET", "/api/v1/alerts", list_alerts, "viewer"),
    ("GET", "/api/v1/alerts/{id}", get_alert, "viewer"),
    ("POST", "/api/v1/alerts/{id}/ack", ack_alert, "operator"),
]


async def metrics_text(app: web.Application) -> str:
    """Prometheus lines (text format 0.0.4) of alert counts, for the /metrics handler."""
    svc = app.get(ALERTS)
    if svc is None:  # alerts not set up on this app: no lines rather than misleading zeros
        return ""
    try:
        counts = await asyncio.to_thread(svc.store.counts)
    except AlertStoreError as exc:
        log.error("alert counts for /metrics unavailable: %s", exc)
        counts = None
    lines: list[str] = []
    for state, help_ in (("open", "Alerts open and not acknowledged, by severity."),
                         ("acknowledged", "Alerts acknowledged, not yet resolved, by severity.")):
        if counts is None:
            break
        lines += [f"# HELP kotanet_alerts_{state} {help_}",
                  f"# TYPE kotanet_alerts_{state} gauge"]
        lines += [f'kotanet_alerts_{state}{{severity="{sev}"}} {counts.get((state, sev), 0)}'
                  for sev in SEVERITIES]
    lines += ["# HELP kotanet_alerts_evaluations_total Completed alert evaluation rounds.",
              "# TYPE kotanet_alerts_evaluations_total counter",
              f"kotanet_alerts_evaluations_total {svc.rounds}",
              "# HELP kotanet_alerts_evaluation_errors_total Failed alert evaluation rounds.",
              "# TYPE kotanet_alerts_evaluation_errors_total counter",
              f"kotanet_alerts_evaluation_errors_total {svc.errors}"]
    return "\n".join(lines) + "\n"


def setup_alerts(app: web.Application, storage: Storage, db_path: str | Path, *,
                 cfg: AlertConfig | None = None, is_leader: Callable[[], bool] = lambda: True,
                 interval_s: float = 5.0, gap_grace_s: float = 300.0,
                 clock_ms: Callable[[], int] = wall_ms) -> AlertService:
    """Add the alert routes and the evaluation task (own DB connection) for the app's life.

    Call after central.web.make_app() (the routes use its token auth).
    """
    cfg = cfg or AlertConfig()
    store = AlertStore(db_path)
    reader = InputReader(storage, cfg, int(gap_grace_s * 1000))
    svc = AlertService(store, reader, cfg, is_leader, interval_s, clock_ms)
    app[ALERTS] = svc
    for method, path, handler, role in ROUTES:
        app.router.add_route(method, path, guard(role, handler))

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(svc.run())
        yield
        svc.stop()
        await task
        await asyncio.to_thread(store.close)
    app.cleanup_ctx.append(lifetime)
    return svc
