"""The fleet page: tiles, map of sites, sortable and filterable node table (live)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from central.api.jsonout import json_response
from central.noc.context import NOC
from central.noc.fleet import STATES
from central.noc.i18n import t
from central.noc.live import HUB
from central.noc.render import lang_of, page
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
    data = {"fleet": snap, "tile_url": request.app[NOC].extra.get("tile_url", "")}
    return page(request, "fleet.html", t(lang, "nav.fleet"), sess, scripts=["fleet.js"],
                styles=["vendor/leaflet/leaflet.css"], data=data, tiles=TILES,
                counts=snap["tiles"], states=STATES, columns=FLEET_COLUMNS)


@require("viewer")
async def fleet_json(request: web.Request) -> web.StreamResponse:
    """The fleet snapshot as JSON (nodes, tiles, sites)."""
    hub = request.app[HUB]
    return json_response(hub.snapshot(await asyncio.to_thread(hub.current)))


async def index(request: web.Request) -> web.StreamResponse:
    """/noc -> /noc/."""
    raise web.HTTPFound("/noc/")


async def root(request: web.Request) -> web.StreamResponse:
    """Central's root URL leads to the NOC: the fleet when logged in, else the login page."""
    raise web.HTTPFound("/noc/" if await get_session(request) is not None else "/noc/login")
