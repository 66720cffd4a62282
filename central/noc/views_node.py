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
from central.noc.context import NOC
from central.noc.fleet import node_view
from central.noc.i18n import t, wib
from central.noc.live import HUB
from central.noc.render import lang_of, page
from central.noc.security import get_session, require
from central.noc.series import RANGES, node_series
from central.noc.views_incidents import node_incidents
from protocol.params import MAX_KBPS, MAX_LEASE_S, MIN_KBPS

CONSOLE_KINDS = ("set_throttle", "clear_throttle", "failover", "failback", "resync")
CHARTS = ("rtt", "loss", "users", "throughput")


@dataclass(frozen=True)
class ConsoleField:
    """One number input of the command console: its bounds are the command contract's."""

    name: str
    label: str
    low: int
    high: int
    value: int


#: The console's kinds and inputs; min/max from protocol/params.py (rates, lease) and
#: central/commands/params.py (the message lifetime only central sets).
CONSOLE = {
    "kinds": CONSOLE_KINDS,
    "throttle": (
        ConsoleField("down_kbps", "cmd.down", MIN_KBPS, MAX_KBPS, 10_000),
        ConsoleField("up_kbps", "cmd.up", MIN_KBPS, MAX_KBPS, 5_000),
        # the contract wants lease_s > 0; the input steps in whole seconds
        ConsoleField("lease_s", "cmd.lease", 1, MAX_LEASE_S, 3_600)),
    "ttl": ConsoleField("ttl_s", "cmd.ttl", math.ceil(MIN_TTL_S), math.floor(MAX_TTL_S),
                        int(DEFAULT_TTL_S)),
}


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
        raise web.HTTPNotFound(text=t(lang, "node.unknown", node=name))
    hub = request.app[HUB]
    v = node_view(d, hub.primary.get(name), hub.gap_nodes)
    v["thr_version"] = d.get("throttle_version")
    evs = await asyncio.to_thread(noc.storage.events, name, wall_ms() - 7 * 86400_000, None,
                                500)
    facts = [("col.site", f'{d["site"]} · {d.get("name") or ""}'),
             ("col.role", t(lang, "role." + (d.get("role") or "park"))),
             ("col.uplink", v["uplink"] or "—"), ("col.users", v["users"]),
             ("col.since", wib(v["since"])), ("node.gaps", d["gaps"]["missing"]),
             ("node.agent", (d.get("birth") or {}).get("agent_version", "—"))]
    operator = role_at_least(sess.user.role, "operator")
    incidents = await asyncio.to_thread(node_incidents, request, name, lang)  # issue 16
    return page(request, "node.html", t(lang, "node.title", node=name), sess,
                scripts=["node.js"], styles=["vendor/uplot/uPlot.min.css"],
                data={"node": name, "view": v}, node=name, view=v,
                cause=root_cause(lang, v, evs), facts=facts, ranges=RANGES, charts=CHARTS,
                events=list(reversed(evs[-200:])), console=CONSOLE if operator else None,
                incidents=incidents)


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
