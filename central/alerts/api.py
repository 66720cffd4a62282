"""Alert API (list as viewer, ack as operator) and ``setup_alerts``, which adds the routes and
the evaluation task (central.alerts.service) for exactly the app's lifetime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from central.alerts.inputs import InputReader
from central.alerts.model import AlertConfig
from central.alerts.service import ALERTS, AlertService
from central.alerts.store import ALERT_STATES, AlertStore
from central.api.auth import AUTH, Route, add_routes, json_error
from central.api.jsonout import json_response
from central.clock import wall_ms
from central.storage.base import Storage

MAX_ALERTS = 5000  # the largest ?limit= of the alert list


async def list_alerts(request: web.Request) -> web.Response:
    """Alerts newest first; ?state=open|acknowledged|resolved|active, ?node=, ?limit=."""
    state = request.query.get("state") or None
    if state is not None and state not in (*ALERT_STATES, "active"):
        return json_error(400, f"state must be one of {', '.join((*ALERT_STATES, 'active'))}")
    limit = _decimal(request.query.get("limit", "500"), MAX_ALERTS)
    if limit is None or limit < 1:
        return json_error(400, f"limit must be an integer 1..{MAX_ALERTS}")
    rows = await asyncio.to_thread(request.app[ALERTS].store.list_alerts, state,
                                   request.query.get("node") or None, limit)
    return json_response({"alerts": rows})


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
        return json_error(400, f"alert id must be a decimal integer, got {raw[:40]!r}")
    return alert_id


async def get_alert(request: web.Request) -> web.Response:
    """One alert with its evidence."""
    alert_id = _alert_id(request)
    if isinstance(alert_id, web.Response):
        return alert_id
    row = await asyncio.to_thread(request.app[ALERTS].store.get, alert_id)
    if row is None:
        return json_error(404, f"unknown alert {request.match_info['id']!r}")
    return json_response(row)


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
        return json_error(404, f"unknown alert {alert_id}")
    if row["state"] == "resolved":
        return json_response({"error": "alert is already resolved", "alert": row},
                                 status=409)
    return json_response(row)


ROUTES: list[Route] = [
    ("GET", "/api/v1/alerts", list_alerts, "viewer"),
    ("GET", "/api/v1/alerts/{id}", get_alert, "viewer"),
    ("POST", "/api/v1/alerts/{id}/ack", ack_alert, "operator"),
]


def setup_alerts(app: web.Application, storage: Storage, db_path: str | Path, *,
                 cfg: AlertConfig | None = None, is_leader: Callable[[], bool] = lambda: True,
                 interval_s: float = 5.0, gap_grace_s: float = 300.0,
                 clock_ms: Callable[[], int] = wall_ms) -> AlertService:
    """Add the alert routes and the evaluation task (own DB connection) for the app's life.

    Call after central.api.app.make_app() (the routes use its token auth).
    """
    cfg = cfg or AlertConfig()
    store = AlertStore(db_path)
    reader = InputReader(storage, cfg, int(gap_grace_s * 1000))
    svc = AlertService(store, reader, cfg, is_leader, interval_s, clock_ms)
    app[ALERTS] = svc
    add_routes(app, ROUTES)

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(svc.run())
        yield
        svc.stop()
        await task
        await asyncio.to_thread(store.close)
    app.cleanup_ctx.append(lifetime)
    return svc
