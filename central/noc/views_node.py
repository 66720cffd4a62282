"""The node page: root-cause line, charts, event timeline and (operators) command console."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from central.api.auth import role_at_least
from central.api.jsonout import json_response
from central.clock import wall_ms
from central.commands.params import DEFAULT_TTL_S, MAX_TTL_S, MIN_TTL_S
from central.noc import timeline
from central.noc.context import NOC
from central.noc.fleet import node_view
from central.noc.i18n import age, t, wib
from central.noc.live import HUB
from central.noc.render import lang_of, page
from central.noc.security import get_session, require
from central.noc.series import RANGES, node_series
from central.noc.views_fleet import js_extra
from central.noc.views_incidents import node_incidents
from protocol.params import MAX_KBPS, MAX_LEASE_S, MIN_KBPS

CONSOLE_KINDS = ("set_throttle", "clear_throttle", "failover", "failback", "resync")
CHARTS = ("rtt", "loss", "users", "throughput")


@dataclass(frozen=True)
class ConsoleField:
    """One number input of the command console: its bounds are the command contract's.

    ``scale`` converts the shown unit to the protocol's (Mbit/s -> kbit/s: 1000; minutes ->
    seconds: 60); ``low``/``high`` are in the shown unit, the browser refuses values outside.
    """

    name: str
    label: str
    low: float
    high: float
    value: float
    scale: int = 1
    param: str = ""


def _mbit(kbps: int) -> float:
    return kbps / 1000


#: The console's kinds and inputs; bounds from protocol/params.py (rates, lease) and
#: central/commands/params.py (the message lifetime only central sets). Rates in Mbit/s, the
#: NOC's one unit; the browser converts to the kbit/s the protocol carries.
CONSOLE = {
    "kinds": CONSOLE_KINDS,
    "throttle": (
        ConsoleField("down_mbps", "cmd.down", _mbit(MIN_KBPS), _mbit(MAX_KBPS), 10, 1000,
                     "down_kbps"),
        ConsoleField("up_mbps", "cmd.up", _mbit(MIN_KBPS), _mbit(MAX_KBPS), 5, 1000, "up_kbps"),
        # the contract wants 0 < lease_s <= MAX_LEASE_S; the input steps in whole minutes
        ConsoleField("lease_min", "cmd.lease", 1, MAX_LEASE_S // 60, 60, 60, "lease_s")),
    "ttl": ConsoleField("ttl_s", "cmd.ttl", math.ceil(MIN_TTL_S), math.floor(MAX_TTL_S),
                        int(DEFAULT_TTL_S), 1, "ttl_s"),
}


def root_cause(lang: str, v: dict[str, Any], events: list[dict[str, Any]],
               cmds: dict[int, dict[str, Any]] | None = None) -> str:
    """One line saying why a node is in its state and since when (timeline.cause's text)."""
    return str(timeline.cause(lang, v, events, cmds or {})["text"])


def _facts(lang: str, d: dict[str, Any] | None, v: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(id, label key, value) of the node page's header facts."""
    users: Any = v["users"] if v["users"] is not None else "—"
    if not v["online"] and v["users"] is not None and v.get("sample"):
        # an offline node's users are its last known value, with their age
        users = t(lang, "stale.value", v=users, age=age(v["sample"], wall_ms(), lang))
    facts: list[tuple[str, str, Any]] = [
        ("site", "col.site", f'{v["site"]} · {v.get("name") or ""}'),
        ("role", "col.role", t(lang, "role." + (v.get("role") or "park"))),
        ("uplink", "col.uplink", v["uplink"] or "—"), ("users", "col.users", users),
        ("since", "col.since", wib(v["since"]))]
    if d is not None:
        facts += [("gaps", "node.gaps", d["gaps"]["missing"]),
                  ("agent", "node.agent", (d.get("birth") or {}).get("agent_version", "—"))]
    return facts


async def _story(request: web.Request, name: str, detail: bool
                 ) -> tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]],
                            dict[int, dict[str, Any]]] | None:
    """The node's live view (the hub's, so fleet and node page agree), its detail, events and
    commands; None if the node is unknown."""
    noc, hub = request.app[NOC], request.app[HUB]
    now = wall_ms()
    d = None
    if detail:
        d = await asyncio.to_thread(noc.storage.node_detail, name, now, noc.grace_ms)
        if d is None:
            return None
    v = (await asyncio.to_thread(hub.current)).get(name)
    if v is None:
        if d is None:
            return None
        v = node_view(d, hub.primary.get(name), hub.gap_nodes)
    evs = await asyncio.to_thread(timeline.recent_events, noc.storage, name, now)
    # central's own record of the node going offline / coming back, among the node's events
    pres = await asyncio.to_thread(hub.presence.events, name, now - timeline.WINDOW_MS)
    evs = sorted(evs + pres, key=lambda e: e["ts_ms"])
    cmds = await asyncio.to_thread(timeline.commands, noc.store, name)
    return v, d, evs, cmds


@require("viewer")
async def node_page(request: web.Request) -> web.StreamResponse:
    """Everything about one node."""
    sess = await get_session(request)
    assert sess is not None
    lang = lang_of(request)
    name = request.match_info["node"]
    story = await _story(request, name, detail=True)
    if story is None:
        raise web.HTTPNotFound(text=t(lang, "node.unknown", node=name))
    v, d, evs, cmds = story
    operator = role_at_least(sess.user.role, "operator")
    cause = timeline.cause(lang, v, evs, cmds)
    incidents = await asyncio.to_thread(node_incidents, request, name, lang)  # issue 16
    return page(request, "node.html", t(lang, "node.title", node=name), sess,
                scripts=["node.js"], styles=["vendor/uplot/uPlot.min.css"],
                data={"node": name, "view": v, "tx": js_extra(lang), "cause": cause},
                node=name, view=v, cause=cause, facts=_facts(lang, d, v), ranges=RANGES,
                charts=CHARTS, events=timeline.event_rows(lang, v, evs, cmds),
                console=CONSOLE if operator else None, incidents=incidents)


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
    """The node's current state, cause line, header facts and events (the node page keeps
    itself live with this)."""
    lang = lang_of(request)
    name = request.match_info["node"]
    story = await _story(request, name, detail=False)
    if story is None:
        return json_response({"error": f"unknown node {name!r}"}, status=404)
    v, _, evs, cmds = story
    c = timeline.cause(lang, v, evs, cmds)
    return json_response({**c, "cause": c["text"], "view": v, "now": wall_ms(),
                          "facts": {k: str(val) for k, _, val in _facts(lang, None, v)},
                          "events": timeline.event_rows(lang, v, evs, cmds)})
