"""Alert API (list as viewer, ack as operator) and ``setup_alerts``, which adds the routes and
the evaluation task (central.alerts.service) for exactly the app's lifetime."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from central.alerts.incident_store import IncidentStore, NotifyHook
from central.alerts.incidents import INCIDENT_STATES, ActiveAlert, IncidentConfig, SiteInfo
from central.alerts.inputs import InputReader
from central.alerts.model import SEVERITIES, AlertConfig
from central.alerts.service import ALERTS, AlertService
from central.alerts.store import ALERT_STATES, AlertStore
from central.api.auth import AUTH, Route, add_routes, json_error
from central.api.jsonout import json_response
from central.clock import wall_ms
from central.storage.base import Storage
from protocol.topics import is_valid_id

log = logging.getLogger(__name__)
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


INCIDENTS = web.AppKey("incidents", IncidentStore)


async def list_incidents(request: web.Request) -> web.Response:
    """Incidents newest first; ?state=open|acknowledged|maintenance|resolved|active, ?site=,
    ?severity=, ?node= (incidents with that node among their members), ?limit=."""
    q = request.query
    state = q.get("state") or None
    if state is not None and state not in (*INCIDENT_STATES, "active"):
        return json_error(400, f"state must be one of {', '.join((*INCIDENT_STATES, 'active'))}")
    severity = q.get("severity") or None
    if severity is not None and severity not in SEVERITIES:
        return json_error(400, f"severity must be one of {', '.join(SEVERITIES)}")
    limit = _decimal(q.get("limit", "200"), MAX_ALERTS)
    if limit is None or limit < 1:
        return json_error(400, f"limit must be an integer 1..{MAX_ALERTS}")
    rows = await asyncio.to_thread(request.app[INCIDENTS].list_incidents, state,
                                   q.get("site") or None, severity, q.get("node") or None, limit)
    return json_response({"incidents": rows})


async def get_incident(request: web.Request) -> web.Response:
    """One incident with its member alerts and timeline."""
    inc_id = _alert_id(request)
    if isinstance(inc_id, web.Response):
        return inc_id
    row = await asyncio.to_thread(request.app[INCIDENTS].get, inc_id)
    if row is None:
        return json_error(404, f"unknown incident {inc_id}")
    return json_response(row)


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        # body_exists, not can_read_body: the NOC's session bridge has already read the body
        # (for its audit record) and aiohttp then serves it again from its cache
        body = await request.json() if request.body_exists else {}
    except ValueError:
        return json_error(400, "body must be a JSON object")
    return body if isinstance(body, dict) else json_error(400, "body must be a JSON object")


async def ack_incident(request: web.Request) -> web.Response:
    """Acknowledge an open incident with an optional {"note": "..."}; 409 unless open."""
    inc_id = _alert_id(request)
    if isinstance(inc_id, web.Response):
        return inc_id
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    note = body.get("note", "")
    if not isinstance(note, str) or len(note) > 2000:
        return json_error(400, "note must be a text of at most 2000 characters")
    who = await asyncio.to_thread(request.app[AUTH].resolve, request.headers.get("Authorization"))
    row = await asyncio.to_thread(request.app[INCIDENTS].ack, inc_id, who.name if who else "",
                                  note, request.app[ALERTS].clock_ms())
    if row is None:
        return json_error(404, f"unknown incident {inc_id}")
    if row["state"] not in ("acknowledged",):
        return json_response({"error": f"incident is {row['state']}, not open",
                              "incident": row}, status=409)
    return json_response(row)


async def list_windows(request: web.Request) -> web.Response:
    """Maintenance windows; ?current=1 only those not yet ended."""
    since = request.app[ALERTS].clock_ms() if request.query.get("current") else None
    return json_response({"windows": await asyncio.to_thread(
        request.app[INCIDENTS].windows, since)})


async def add_window(request: web.Request) -> web.Response:
    """Create {"site"|"node", "start_ms", "end_ms", "note"}: alerts there open 'in
    maintenance' and notify nobody."""
    body = await _json_body(request)
    if isinstance(body, web.Response):
        return body
    site, node = body.get("site"), body.get("node")
    start, end, note = body.get("start_ms"), body.get("end_ms"), body.get("note", "")
    if not (isinstance(start, int) and isinstance(end, int)) or isinstance(start, bool) or \
            isinstance(end, bool):
        return json_error(400, "start_ms and end_ms must be integers (ms since the epoch)")
    if not all(v is None or is_valid_id(v) for v in (site, node)):
        return json_error(400, "site and node must be ids (1-64 of A-Z a-z 0-9 _ . -)")
    if not isinstance(note, str) or len(note) > 2000:
        return json_error(400, "note must be a text of at most 2000 characters")
    who = await asyncio.to_thread(request.app[AUTH].resolve, request.headers.get("Authorization"))
    try:
        row = await asyncio.to_thread(request.app[INCIDENTS].add_window, site, node, start, end,
                                      note, who.name if who else "",
                                      request.app[ALERTS].clock_ms())
    except ValueError as exc:
        return json_error(400, str(exc))
    return json_response(row, status=201)


async def delete_window(request: web.Request) -> web.Response:
    """Remove a maintenance window."""
    wid = _alert_id(request)
    if isinstance(wid, web.Response):
        return wid
    if not await asyncio.to_thread(request.app[INCIDENTS].delete_window, wid):
        return json_error(404, f"unknown maintenance window {wid}")
    return json_response({"deleted": wid})


ROUTES: list[Route] = [
    ("GET", "/api/v1/alerts", list_alerts, "viewer"),
    ("GET", "/api/v1/alerts/{id}", get_alert, "viewer"),
    ("POST", "/api/v1/alerts/{id}/ack", ack_alert, "operator"),
    ("GET", "/api/v1/incidents", list_incidents, "viewer"),
    ("GET", "/api/v1/incidents/{id}", get_incident, "viewer"),
    ("POST", "/api/v1/incidents/{id}/ack", ack_incident, "operator"),
    ("GET", "/api/v1/maintenance", list_windows, "viewer"),
    ("POST", "/api/v1/maintenance", add_window, "operator"),
    ("DELETE", "/api/v1/maintenance/{id}", delete_window, "operator"),
]


def active_alerts(store: AlertStore) -> list[ActiveAlert]:
    """Every open or acknowledged alert, as correlation reads it."""
    return [ActiveAlert(r["id"], r["node"], r["site"], r["kind"], r["severity"], r["opened_ms"])
            for r in store.list_alerts("active", None, 100_000)]


def setup_alerts(app: web.Application, storage: Storage, db_path: str | Path, *,
                 cfg: AlertConfig | None = None, is_leader: Callable[[], bool] = lambda: True,
                 interval_s: float = 5.0, gap_grace_s: float = 300.0,
                 clock_ms: Callable[[], int] = wall_ms,
                 sites: Mapping[str, SiteInfo] | None = None,
                 incident_cfg: IncidentConfig | None = None,
                 on_notify: NotifyHook | None = None,
                 on_queued: Callable[[], None] | None = None) -> AlertService:
    """Add the alert, incident and maintenance routes and the evaluation task (own DB
    connections) for the app's life. After every round the leader correlates the active alerts
    into incidents (central.alerts.incidents); ``on_notify`` queues their notifications in
    the same transaction and ``on_queued`` is called when some were queued.

    Call after central.api.app.make_app() (the routes use its token auth).
    """
    cfg = cfg or AlertConfig()
    store = AlertStore(db_path)
    incidents = IncidentStore(db_path)
    icfg = incident_cfg or IncidentConfig()
    site_info = dict(sites or {})

    def after_round(now_ms: int) -> None:
        events = incidents.round(active_alerts(store), site_info, now_ms, icfg, on_notify)
        if on_queued is not None and any(e.kind == "notify" for e in events):
            on_queued()

    reader = InputReader(storage, cfg, int(gap_grace_s * 1000))
    svc = AlertService(store, reader, cfg, is_leader, interval_s, clock_ms, after_round)
    app[ALERTS] = svc
    app[INCIDENTS] = incidents
    add_routes(app, ROUTES)

    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(svc.run())
        yield
        svc.stop()
        await task
        await asyncio.to_thread(store.close)
        await asyncio.to_thread(incidents.close)
    app.cleanup_ctx.append(lifetime)
    return svc
