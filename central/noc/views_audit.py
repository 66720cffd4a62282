"""The audit log as people read it: translated actions, names, filter, paging and CSV.

Records are stored as written (``NocStore.audit``: actor, ip, action, target, ok, JSON
detail); this module only turns them into words in the user's language: an action's name
(``audit.a.<action>``), the target as "node X", "site Name" or "account X" rather than an API
path, and the detail as a short sentence (roles by name, bandwidth in Mbit/s) rather than JSON.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import re
from datetime import datetime
from typing import Any

from aiohttp import web

from central.noc import budget
from central.noc.context import NOC
from central.noc.i18n import CATALOG, WIB, num, t, wib
from central.noc.render import lang_of, page
from central.noc.security import get_session, require

PAGE_SIZE = 50
CSV_MAX = 100_000
_NODE_PATH = re.compile(r"^/api/v1/nodes/([^/]+)/commands$")
_KBPS = ("down_kbps", "up_kbps", "per_client_down_kbps", "per_client_up_kbps")


def actor_name(actor: str, lang: str) -> str:
    """Who acted, in words (the central admin token and anonymous set-up attempts named)."""
    return {"central-admin-token": t(lang, "audit.admin_token"), "anonymous": t(
        lang, "audit.anonymous"), "policy": t(lang, "audit.policy")}.get(actor, actor)


def action_name(action: str, lang: str) -> str:
    """An action's name in the user's language (unknown actions as they are)."""
    key = f"audit.a.{action}"
    return t(lang, key) if key in CATALOG else action


def target_name(action: str, target: str, lang: str, sites: dict[str, dict[str, Any]]) -> str:
    """The target as a node, site, account or setting rather than an id or API path."""
    m = _NODE_PATH.match(target)
    if m:
        return t(lang, "audit.t.node", node=m.group(1))
    if target.startswith("site:"):
        site = target[5:]
        return t(lang, "audit.t.site", site=(sites.get(site) or {}).get("name") or site)
    if target == "tile_url":
        return t(lang, "audit.t.setting", name=t(lang, "settings.tile_url"))
    if action in ("login", "logout", "setup", "user.create", "user.update") and target:
        return t(lang, "audit.t.account", user=target)
    return target


def _mbps(kbps: Any, lang: str) -> str:
    return f"{num(float(kbps) / 1000, lang, 1)} Mbit/s"


def detail_text(action: str, raw: str, lang: str) -> str:
    """A record's detail as a short sentence in the user's language."""
    try:
        d = json.loads(raw or "{}")
    except ValueError:
        return ""
    if not isinstance(d, dict):
        return ""
    parts: list[str] = []
    if "kind" in d:
        kind = str(d["kind"])
        parts.append(t(lang, f"cmd.{kind}") if f"cmd.{kind}" in CATALOG else kind)
    params: dict[str, Any] = d["params"] if isinstance(d.get("params"), dict) else {}
    for k in _KBPS:
        if isinstance(params.get(k), int | float):
            parts.append(f"{t(lang, 'audit.p.' + k)} {_mbps(params[k], lang)}")
    if isinstance(params.get("lease_s"), int | float):
        parts.append(t(lang, "audit.p.lease", s=num(params["lease_s"], lang, 0)))
    if isinstance(d.get("ttl_s"), int | float):
        parts.append(t(lang, "audit.d.ttl", s=num(d["ttl_s"], lang, 0)))
    if d.get("role") in ("viewer", "operator", "admin"):
        parts.append(t(lang, "audit.d.role", role=t(lang, f"acct.{d['role']}")))
    if "disabled" in d:
        parts.append(t(lang, "audit.d.disabled" if d["disabled"] else "audit.d.enabled"))
    if d.get("password_changed"):
        parts.append(t(lang, "audit.d.password"))
    for k, label in (("lat", "settings.lat"), ("lon", "settings.lon")):
        if k in d:
            parts.append(f"{t(lang, label)} {'—' if d[k] is None else num(d[k], lang, 4)}")
    if "capacity_mbps" in d:
        cap = d["capacity_mbps"]
        parts.append(f"{t(lang, 'settings.capacity')} {'—' if cap is None else num(cap, lang, 1)}")
    if "cost_month" in d:
        cost = d["cost_month"]
        parts.append(f"{t(lang, 'settings.cost')} {'—' if cost is None else num(cost, lang, 0)}")
    if "value" in d:
        parts.append(t(lang, "audit.d.value", value=d["value"] or t(lang, "audit.d.empty")))
    if d.get("refused") == "rate limit":
        parts.append(t(lang, "audit.d.limited"))
        if d.get("refused_since_last_row"):
            parts.append(t(lang, "audit.d.failures", n=d["refused_since_last_row"]))
    elif "refused" in d:
        why = str(d["refused"])
        role = why.removeprefix("role ")
        parts.append(t(lang, "audit.d.refused", why=t(lang, f"acct.{role}")
                       if role in ("viewer", "operator", "admin") else why))
    if d.get("error_key") and str(d["error_key"]) in CATALOG:
        params_: dict[str, Any] = (d["error_params"] if isinstance(d.get("error_params"), dict)
                                   else {})
        parts.append(t(lang, str(d["error_key"]), **params_))
    if "status" in d:
        parts.append(t(lang, "audit.d.status", status=d["status"]))
    return " · ".join(parts)


def _day_ms(raw: str | None, lang: str, end: bool = False) -> int | None:
    """Start of a WIB day 'YYYY-MM-DD' (end: of the day after) in epoch ms; None if empty."""
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=WIB)
    except ValueError:
        raise web.HTTPBadRequest(text=t(lang, "audit.bad_date", value=raw)) from None
    return int(day.timestamp() * 1000) + (86400_000 if end else 0)


def _filters(request: web.Request, lang: str) -> dict[str, Any]:
    q = request.query
    return {"actor": q.get("actor") or None, "action": q.get("action") or None,
            "since_ms": _day_ms(q.get("from"), lang), "until_ms": _day_ms(q.get("to"), lang, True)}


def _rows(recs: list[dict[str, Any]], lang: str, sites: dict[str, dict[str, Any]]
          ) -> list[dict[str, str]]:
    return [{"when": wib(r["ts_ms"], lang=lang), "who": actor_name(r["actor"], lang),
             "ip": r["ip"], "action": action_name(r["action"], lang),
             "target": target_name(r["action"], r["target"], lang, sites),
             "ok": t(lang, "yes") if r["ok"] else t(lang, "no"), "ok_raw": "1" if r["ok"] else "",
             "detail": detail_text(r["action"], r["detail"], lang)} for r in recs]


COLUMNS = [("when", "audit.when"), ("who", "audit.who"), ("action", "audit.action"),
           ("target", "audit.target"), ("ok", "audit.ok"), ("detail", "audit.detail"),
           ("ip", "audit.ip")]


@require("admin")
async def audit_page(request: web.Request) -> web.StreamResponse:
    """Audit records, newest first, filtered by actor, action and period, 50 per page."""
    sess = await get_session(request)
    lang = lang_of(request)
    store = request.app[NOC].store
    f = _filters(request, lang)
    try:
        page_no = max(1, int(request.query.get("page", "1")))
    except ValueError:
        page_no = 1
    total = await asyncio.to_thread(store.audit_count, **f)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page_no = min(page_no, pages)
    recs = await asyncio.to_thread(store.audit_log, PAGE_SIZE, (page_no - 1) * PAGE_SIZE, **f)
    sites = await asyncio.to_thread(store.sites)
    actors = await asyncio.to_thread(store.audit_values, "actor")
    actions = await asyncio.to_thread(store.audit_values, "action")
    query = {k: v for k, v in request.query.items() if k != "page" and v}
    return page(request, "audit.html", t(lang, "audit.title"), sess,
                records=_rows(recs, lang, sites), columns=COLUMNS, total=total, page_no=page_no,
                pages=pages, query=query,
                actors=[(a, actor_name(a, lang)) for a in actors],
                actions=[(a, action_name(a, lang)) for a in actions],
                chosen={"actor": f["actor"] or "", "action": f["action"] or "",
                        "from": request.query.get("from", ""), "to": request.query.get("to", "")})


@require("admin")
async def audit_csv(request: web.Request) -> web.StreamResponse:
    """The filtered audit log as CSV in the user's language (the page's words)."""
    lang = lang_of(request)
    store = request.app[NOC].store
    recs = await asyncio.to_thread(store.audit_log, CSV_MAX, 0, **_filters(request, lang))
    sites = await asyncio.to_thread(store.sites)
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";" if lang == "id" else ",")
    w.writerow([t(lang, key) for _, key in COLUMNS])
    for r in _rows(recs, lang, sites):
        w.writerow([budget.csv_cell(r[c]) for c, _ in COLUMNS])
    name = f"kotanet-{t(lang, 'audit.file')}.csv"
    return web.Response(text=buf.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
