"""The fleet page: tiles, map of sites, sortable and filterable node table (live)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from central.api.jsonout import dumps
from central.noc.context import NOC
from central.noc.fleet import PROBLEMS, STATES
from central.noc.i18n import CATALOG, t
from central.noc.live import HUB
from central.noc.render import lang_of, page
from central.noc.security import get_session, require

#: Tiles (each a filter of the table): every problem state counts; "alerts" = any problem.
TILES = ("online", "offline", "backup", "degraded", "throttled", "unknown", "users", "alerts")
#: Catalogue prefixes the fleet and node scripts need besides render.page's.
JS_EXTRA = ("since.", "stale.", "filter", "ev.", "actor.", "cause.")


def js_extra(lang: str) -> dict[str, str]:
    """The extra translations of the fleet and node pages' scripts."""
    return {k: t(lang, k) for k in CATALOG if k.startswith(JS_EXTRA)}
FLEET_COLUMNS = [("node", "col.node"), ("site", "col.site"), ("role", "col.role"),
                 ("state", "col.state"), ("since", "col.since"), ("uplink", "col.uplink"),
                 ("users", "col.users"), ("rtt", "col.rtt"), ("loss", "col.loss"),
                 ("thr_down", "col.throttle")]
#: The state filter: every node, any problem, online, then each problem.
FILTERS = (("", "filter.all"), ("problem", "filter.problem"), ("online", "filter.online"),
           ("users", "filter.users"),
           *((p, "state." + p) for p in PROBLEMS), ("ok", "state.ok"))


@require("viewer")
async def fleet_page(request: web.Request) -> web.StreamResponse:
    """The whole fleet at a glance."""
    sess = await get_session(request)
    lang = lang_of(request)
    hub = request.app[HUB]
    tile_url = request.app[NOC].extra.get("tile_url", "")

    def build() -> web.Response:  # off the event loop: 2,000 nodes take a while to render
        snap = hub.snapshot(hub.current())
        data = {"fleet": snap, "tile_url": tile_url, "tx": js_extra(lang)}
        return page(request, "fleet.html", t(lang, "nav.fleet"), sess, scripts=["fleet.js"],
                    styles=["vendor/leaflet/leaflet.css"], data=data, tiles=TILES,
                    counts=snap["tiles"], states=STATES, filters=FILTERS,
                    columns=FLEET_COLUMNS)
    return await asyncio.to_thread(build)


@require("viewer")
async def fleet_json(request: web.Request) -> web.StreamResponse:
    """The fleet snapshot as JSON (nodes, tiles, sites)."""
    hub = request.app[HUB]
    snap = await asyncio.to_thread(lambda: dumps(hub.snapshot(hub.current())))
    return web.Response(text=snap, content_type="application/json")


async def index(request: web.Request) -> web.StreamResponse:
    """/noc -> /noc/."""
    raise web.HTTPFound("/noc/")


async def root(request: web.Request) -> web.StreamResponse:
    """Central's root URL leads to the NOC: the fleet when logged in, else the login page."""
    raise web.HTTPFound("/noc/" if await get_session(request) is not None else "/noc/login")
