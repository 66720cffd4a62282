"""The incidents page (open, acknowledged, in maintenance, resolved) with maintenance windows.

Incidents come from the alert engine (central.alerts) through ``incident_feed``; the page's
script (static/incidents.js) keeps them live over the NOC WebSocket (``/noc/ws?feed=
incidents``) and acknowledges and edits maintenance windows through central's JSON API
(``/api/v1/incidents/{id}/ack``, ``/api/v1/maintenance``) with the session and its CSRF token,
like the node page's command console: the API refuses a viewer (403).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from central.alerts.incident_store import IncidentStore
from central.alerts.model import SEVERITIES
from central.api.auth import role_at_least
from central.api.jsonout import json_response
from central.clock import wall_ms
from central.noc import incident_feed
from central.noc.context import NOC
from central.noc.i18n import t
from central.noc.render import lang_of, page
from central.noc.security import get_session, require
from central.notify.outbox import OutboxError
from central.notify.setup import SENDER, public_config

TABS: tuple[str, ...] = ("open", "acknowledged", "maintenance", "resolved")
LIMIT = 200


def store_of(request: web.Request) -> IncidentStore | None:
    """The alert engine's incident store (None when alerts are not set up on this app)."""
    store = request.app[NOC].extra.get("incidents")
    return store if isinstance(store, IncidentStore) else None


def _filters(q: Any, strict: bool) -> dict[str, str | None] | str:
    """state/site/severity/node of a query (an error text if strict and one is invalid)."""
    state = q.get("state") or ("open" if not strict else None)
    severity = q.get("severity") or None
    if state is not None and state not in (*TABS, "active"):
        if strict:
            return f"state must be one of {', '.join((*TABS, 'active'))}"
        state = "open"
    if severity is not None and severity not in SEVERITIES:
        if strict:
            return f"severity must be one of {', '.join(SEVERITIES)}"
        severity = None
    return {"state": state, "site": q.get("site") or None, "severity": severity,
            "node": q.get("node") or None}


def _targets(request: web.Request) -> tuple[list[str], list[dict[str, str]]]:
    """Sites and nodes (blocking): what a maintenance window can cover, the site filter."""
    noc = request.app[NOC]
    nodes = [{"node": r["node"], "site": r["site"]} for r in noc.storage.list_nodes()]
    sites = sorted(set(noc.store.sites()) | {n["site"] for n in nodes})
    return sites, sorted(nodes, key=lambda n: n["node"])


@require("viewer")
async def incidents_page(request: web.Request) -> web.StreamResponse:
    """Incidents by state, filtered by site and severity; operators acknowledge with a note."""
    sess = await get_session(request)
    assert sess is not None
    lang = lang_of(request)
    store = store_of(request)
    f = _filters(request.query, strict=False)
    assert isinstance(f, dict)

    def load() -> tuple[list[dict[str, Any]], dict[str, int], list[dict[str, Any]]]:
        if store is None:
            return [], incident_feed.counts([]), []
        rows = incident_feed.listing(store, f["state"], f["site"], f["severity"], f["node"],
                                     LIMIT)
        active = store.list_incidents("active", limit=5000)
        return rows, incident_feed.counts(active), store.windows(wall_ms())
    rows, counts, windows = await asyncio.to_thread(load)
    sites, nodes = await asyncio.to_thread(_targets, request)
    operator = role_at_least(sess.user.role, "operator")
    data = {"incidents": rows, "counts": counts, "windows": windows, "filters": f,
            "operator": operator, "engine": store is not None}
    return page(request, "incidents.html", t(lang, "incidents.title"), sess,
                scripts=["incidents.js"], data=data, tabs=TABS, counts=counts,
                filters=f, sites=sites, nodes=nodes, severities=SEVERITIES,
                operator=operator, engine=store is not None)


@require("viewer")
async def incidents_json(request: web.Request) -> web.StreamResponse:
    """Incidents with timelines and root-cause lines; ?state=&site=&severity=&node=."""
    f = _filters(request.query, strict=True)
    if isinstance(f, str):
        return json_response({"error": f}, status=400)
    store = store_of(request)
    if store is None:
        return json_response({"incidents": [], "counts": incident_feed.counts([])})

    def load() -> dict[str, Any]:
        rows = incident_feed.listing(store, f["state"], f["site"], f["severity"], f["node"],
                                     LIMIT)
        return {"incidents": rows, "counts": incident_feed.counts(
            store.list_incidents("active", limit=5000))}
    return json_response(await asyncio.to_thread(load))


def node_incidents(request: web.Request, node: str, lang: str,
                   limit: int = 10) -> list[dict[str, Any]]:
    """The newest incidents with this node among their members, for the node page; blocking."""
    store = store_of(request)
    if store is None:
        return []
    rows = store.list_incidents(None, None, None, node, limit)
    return [{**r, "title": incident_feed.titles(r)[lang]} for r in rows]


def _route_lines(lang: str, r: dict[str, Any]) -> dict[str, Any]:
    """One configured route as the settings page shows it (conditions in words)."""
    cond = [t(lang, "incidents.notify.min_sev", sev=t(lang, f"incidents.sev.{r['min_severity']}"))]
    if r.get("sites"):
        cond.append(t(lang, "incidents.notify.sites", sites=", ".join(r["sites"])))
    if r.get("site_kinds"):
        cond.append(t(lang, "incidents.notify.kinds", kinds=", ".join(
            t(lang, f"role.{k}") for k in r["site_kinds"])))
    if r.get("active_hours"):
        cond.append(t(lang, "incidents.notify.active", h=r["active_hours"]))
    if r.get("quiet_hours"):
        cond.append(t(lang, "incidents.notify.quiet", h=r["quiet_hours"], sev=t(
            lang, f"incidents.sev.{r['quiet_min_severity']}")))
    dest = r.get("chat_id") or ", ".join(r.get("to") or []) or "—"
    return {"id": r["id"], "channel": r["channel"], "dest": dest, "lang": r["lang"],
            "conditions": " · ".join(cond)}


def notify_settings(request: web.Request, lang: str) -> dict[str, Any] | None:
    """The [notify] channels, routes and report without secrets (GET /api/v1/notify's data),
    for the settings page; None when notifications are not set up here; blocking."""
    sender = request.app.get(SENDER)
    if sender is None:
        return None
    cfg = public_config(sender.cfg)
    channels = []
    for c in cfg["channels"]:
        where = {"telegram": c.get("api_base"), "webhook": c.get("url")}.get(
            c["type"], f'{c.get("host")}:{c.get("port")}' + (" STARTTLS" if c.get("starttls")
                                                             else ""))
        source, _, name = (c["secret_from"] or "").partition(" ")
        channels.append({"id": c["id"], "type": c["type"], "where": where,
                         "secret_from": t(lang, f"incidents.notify.from_{source}", name=name)
                         if source in ("file", "environment") else "—",
                         "secret_ok": c["secret_loaded"]})
    rep = cfg["report"]
    report = t(lang, "incidents.notify.report_off") if not rep.get("enabled") else t(
        lang, "incidents.notify.report_on", day=rep["weekday"], time=rep["time"],
        channel=rep.get("channel") or "—", to=", ".join(rep.get("to") or []))
    try:
        outbox = sender.outbox.counts()
    except OutboxError:
        outbox = {}
    return {"enabled": cfg["enabled"], "base_url": cfg["base_url"], "channels": channels,
            "routes": [_route_lines(lang, r) for r in cfg["routes"]], "report": report,
            "outbox": ", ".join(f"{k} {v}" for k, v in sorted(outbox.items())) or "—"}
