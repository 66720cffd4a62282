"""The fleet page: tiles, map of sites, sortable and filterable node table (live)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from central.api.jsonout import json_response
from central.noc.context import NOC
from central.noc.fleet import STATES
from central.noc.html import e, lang_of, page
from central.noc.i18n import t
from central.noc.live import HUB
from central.noc.security import get_session, require

TILES = ("online", "offline", "backup", "throttled", "users", "alerts")
FLEET_COLUMNS = [("node", "col.node"), ("site", "col.site"), ("role", "col.role"),
                 ("state", "col.state"), ("since", "col.since"), ("uplink", "col.uplink"),
                 ("users", "col.users"), ("rtt", "col.rtt"), ("loss", "col.loss"),
                 ("thr_down", "col.throttle")]


@require("viewer")
async def fleet_page(request: web.Request) -> web.StreamResponse:
    """The whole fleet at a glance."""
    sess = await get_session(request)
    lang = lang_of(request)
    hub = request.app[HUB]
    snap = hub.snapshot(await asyncio.to_thread(hub.current))
    tiles = "".join(
        f'<div class="tile t-{k}" id="tile-{k}"><span class="v">{snap["tiles"][k]}</span>'
        f'<span class="k">{e(t(lang, "tile." + k))}</span>'
        + (f'<span class="hint" id="tile-alerts-hint">{e(t(lang, "tile.alerts_hint", gaps=snap["tiles"]["gaps"], unreg=snap["tiles"]["unregistered"], off=snap["tiles"]["offline"]))}</span>'
           if k == "alerts" else "") + "</div>" for k in TILES)
    states = "".join(f'<option value="{s}">{e(t(lang, "state." + s))}</option>' for s in STATES)
    heads = "".join(f'<th data-key="{k}" tabindex="0" aria-sort="none">{e(t(lang, label))}</th>'
                    for k, label in FLEET_COLUMNS)
    body = (f'<section class="tiles" aria-live="polite">{tiles}</section>'
            f'<p id="live" class="live" role="status">…</p>'
            f'<section class="split"><div id="map" class="map" role="region" aria-label="map">'
            f'</div><p id="no-coords" class="muted"></p></section>'
            f'<section><div class="filters"><input id="filter" type="search" '
            f'placeholder="{e(t(lang, "filter"))}" aria-label="{e(t(lang, "filter"))}">'
            f'<select id="state-filter"><option value="">{e(t(lang, "filter.all"))}</option>'
            f'{states}</select><span id="count" class="muted"></span></div>'
            f'<table id="nodes" class="nodes"><thead><tr>{heads}</tr></thead>'
            f'<tbody></tbody></table></section>')
    data = {"fleet": snap, "tile_url": request.app[NOC].extra.get("tile_url", "")}
    return page(request, t(lang, "nav.fleet"), body, sess, scripts=["fleet.js"],
                styles=["vendor/leaflet/leaflet.css"], data=data)


@require("viewer")
async def fleet_json(request: web.Request) -> web.StreamResponse:
    """The fleet snapshot as JSON (nodes, tiles, sites)."""
    hub = request.app[HUB]
    return json_response(hub.snapshot(await asyncio.to_thread(hub.current)))


async def index(request: web.Request) -> web.StreamResponse:
    """/noc -> /noc/."""
    raise web.HTTPFound("/noc/")
