"""The node page: root-cause line, charts, event timeline and (operators) command console."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from central.api.auth import role_at_least
from central.api.jsonout import json_response
from central.clock import wall_ms
from central.noc.context import NOC
from central.noc.fleet import node_view
from central.noc.html import e, lang_of, page, table
from central.noc.i18n import t, wib
from central.noc.live import HUB
from central.noc.security import get_session, require
from central.noc.series import RANGES, node_series

CONSOLE_KINDS = ("set_throttle", "clear_throttle", "failover", "failback", "resync")


def root_cause(lang: str, v: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """One line saying why a node is in its state, e.g. 'primary uplink down since 10:42'."""
    state = v["state"]
    if state == "offline":
        return t(lang, "cause.offline", t=wib(v["since"]), seen=wib(v["seen"]))
    if state == "backup":
        since = v["since"]
        for ev in reversed(events):
            if ev["kind"] in ("failover", "manual_switch") and \
                    (ev.get("data") or {}).get("to") == v["uplink"]:
                since = ev["ts_ms"]
                break
        return t(lang, "cause.backup", primary=v["primary"], t=wib(since), active=v["uplink"])
    if state == "degraded":
        return t(lang, "cause.degraded", uplink=v["uplink"], loss=v["loss"], rtt=v["rtt"])
    if state == "throttled":
        return t(lang, "cause.throttled", down=v["thr_down"] or "—", up=v["thr_up"] or "—",
                 v=v.get("thr_version", "?"))
    return t(lang, f"cause.{state}") if state in ("unregistered", "unknown") else \
        t(lang, "cause.ok")


def _console(lang: str, node: str) -> str:
    opts = "".join(f'<option value="{k}">{e(t(lang, "cmd." + k))}</option>' for k in CONSOLE_KINDS)
    return (f'<section id="console" class="card"><h2>{e(t(lang, "cmd.title"))}</h2>'
            f'<form id="cmd-form" data-node="{e(node)}">'
            f'<label>{e(t(lang, "cmd.kind"))}<select name="kind" id="cmd-kind">{opts}</select>'
            f'</label><fieldset id="throttle-fields"><label>{e(t(lang, "cmd.down"))}'
            f'<input name="down_kbps" type="number" min="64" value="10000"></label>'
            f'<label>{e(t(lang, "cmd.up"))}<input name="up_kbps" type="number" min="64" '
            f'value="5000"></label><label>{e(t(lang, "cmd.lease"))}<input name="lease_s" '
            f'type="number" min="60" max="604800" value="3600"></label></fieldset>'
            f'<label>{e(t(lang, "cmd.ttl"))}'
            f'<input name="ttl_s" type="number" min="5" max="3600" value="60"></label>'
            f'<button type="submit" id="cmd-send">{e(t(lang, "cmd.send"))}</button></form>'
            f'<div id="cmd-confirm" class="confirm" hidden><p id="cmd-question"></p>'
            f'<button type="button" id="cmd-yes">{e(t(lang, "yes"))}</button>'
            f'<button type="button" id="cmd-no">{e(t(lang, "no"))}</button></div>'
            f'<p id="cmd-result" role="status"></p></section>')


@require("viewer")
async def node_page(request: web.Request) -> web.StreamResponse:
    """Everything about one node."""
    sess = await get_session(request)
    assert sess is not None
    lang = lang_of(request)
    noc = request.app[NOC]
    name = request.match_info["node"]
    d = await asyncio.to_thread(noc.storage.node_detail, name, wall_ms(), noc.grace_ms)
    if d is None:
        raise web.HTTPNotFound(text=f"unknown node {name!r}")
    hub = request.app[HUB]
    v = node_view(d, hub.primary.get(name), hub.gap_nodes)
    v["thr_version"] = d.get("throttle_version")
    evs = await asyncio.to_thread(noc.storage.events, name, wall_ms() - 7 * 86400_000, None,
                                500)
    cause = root_cause(lang, v, evs)
    facts = [(t(lang, "col.site"), f'{e(d["site"])} · {e(d.get("name"))}'),
             (t(lang, "col.role"), e(t(lang, "role." + (d.get("role") or "park")))),
             (t(lang, "col.uplink"), e(v["uplink"] or "—")), (t(lang, "col.users"),
                                                              e(v["users"])),
             (t(lang, "col.since"), e(wib(v["since"]))),
             ("gaps", e(d["gaps"]["missing"])), ("agent", e((d.get("birth") or {}).get(
                 "agent_version", "—")))]
    dl = "".join(f"<dt>{e(k)}</dt><dd>{val}</dd>" for k, val in facts)
    ranges = "".join(f'<button type="button" data-range="{r}"'
                     f'{" aria-pressed=true" if r == "1h" else ""}>{r}</button>' for r in RANGES)
    charts = "".join(f'<figure class="chart"><figcaption>{e(t(lang, "chart." + c))}</figcaption>'
                     f'<div id="chart-{c}" class="plot"></div></figure>'
                     for c in ("rtt", "loss", "users", "throughput"))
    rows = [[e(wib(ev["ts_ms"])), f'<span class="sev sev-{e(ev["severity"])}">'
             f'{e(ev["severity"])}</span>', e(ev["kind"]), e(ev["message"])]
            for ev in reversed(evs[-200:])]
    timeline = table([t(lang, "audit.when"), "", t(lang, "audit.action"), ""], rows, "events") \
        if rows else f'<p class="muted">{e(t(lang, "node.no_events"))}</p>'
    body = (f'<p id="cause" class="cause state-{e(v["state"])}"><span class="badge state-'
            f'{e(v["state"])}">{e(t(lang, "state." + v["state"]))}</span> {e(cause)}</p>'
            f'<dl class="facts">{dl}</dl><h2>{e(t(lang, "node.charts"))}</h2>'
            f'<div class="ranges" role="group" aria-label="{e(t(lang, "range"))}">{ranges}</div>'
            f'<div class="charts">{charts}</div>'
            + (_console(lang, name) if role_at_least(sess.user.role, "operator") else "")
            + f'<h2>{e(t(lang, "node.events"))}</h2>{timeline}')
    return page(request, t(lang, "node.title", node=name), body, sess,
                scripts=["node.js"], styles=["vendor/uplot/uPlot.min.css"],
                data={"node": name, "view": v})


@require("viewer")
async def series_json(request: web.Request) -> web.StreamResponse:
    """Downsampled chart series of a node for ?range=1h|24h|7d|30d."""
    rng = request.query.get("range", "1h")
    if rng not in RANGES:
        return json_response({"error": f"range must be one of {', '.join(RANGES)}"},
                                 status=400)
    noc = request.app[NOC]
    data = await asyncio.to_thread(node_series, noc.storage, request.match_info["node"], rng)
    return json_response(data)


@require("viewer")
async def cause_json(request: web.Request) -> web.StreamResponse:
    """The node's current state and root-cause line (the node page refreshes it live)."""
    noc, hub, lang = request.app[NOC], request.app[HUB], lang_of(request)
    name = request.match_info["node"]
    v = (await asyncio.to_thread(hub.current)).get(name)
    if v is None:
        return json_response({"error": f"unknown node {name!r}"}, status=404)
    evs = await asyncio.to_thread(noc.storage.events, name, wall_ms() - 7 * 86400_000, None,
                                500)
    return json_response({"state": v["state"], "label": t(lang, "state." + v["state"]),
                              "cause": root_cause(lang, v, evs)})
