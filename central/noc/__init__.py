"""NOC dashboard: sessions and roles, fleet, node, budget and admin pages, live WebSocket.

Pages are Jinja2 templates in ``templates/`` (aiohttp-jinja2, autoescape on, ``templating.py``);
central's root URL ``/`` leads to the NOC.

Wire it into central's app factory with ``setup_noc(app)`` after central's own state and
routes are in place (it reads central's config, storage and token auth from the app).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from central.alerts.api import INCIDENTS
from central.api.auth import AUTH, Handler
from central.api.state import CONFIG, STORAGE
from central.noc import (
    live,
    views_admin,
    views_audit,
    views_auth,
    views_budget,
    views_fleet,
    views_incidents,
    views_node,
)
from central.noc.context import NOC, STATIC_DIR, Noc, NocSettings
from central.noc.login_guard import LoginGuard
from central.noc.security import SessionTokenAuth, noc_middleware
from central.noc.store import NocStore, create_user
from central.noc.templating import setup_templates
from central.noc.tiles import TileUrlError, check_tile_url
from central.storage.location import state_path

log = logging.getLogger(__name__)

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/", views_fleet.root),
    ("GET", "/noc", views_fleet.index),
    ("GET", "/noc/", views_fleet.fleet_page),
    ("GET", "/noc/login", views_auth.login_page),
    ("POST", "/noc/login", views_auth.login),
    ("POST", "/noc/logout", views_auth.logout),
    ("GET", "/noc/setup", views_auth.setup_page),
    ("POST", "/noc/setup", views_auth.setup),
    ("POST", "/noc/lang", views_auth.set_lang),
    ("GET", "/noc/nodes/{node}", views_node.node_page),
    ("GET", "/noc/budget", views_budget.budget_page),
    ("GET", "/noc/budget.csv", views_budget.budget_csv),
    ("GET", "/noc/users", views_admin.users_page),
    ("POST", "/noc/users", views_admin.user_create),
    ("POST", "/noc/users/{user}", views_admin.user_update),
    ("GET", "/noc/audit", views_audit.audit_page),
    ("GET", "/noc/audit.csv", views_audit.audit_csv),
    ("GET", "/noc/settings", views_admin.settings_page),
    ("POST", "/noc/settings", views_admin.settings_save),
    ("POST", "/noc/settings/site", views_admin.site_save),
    ("GET", "/noc/api/fleet", views_fleet.fleet_json),
    ("GET", "/noc/api/nodes/{node}/series", views_node.series_json),
    ("GET", "/noc/api/nodes/{node}/cause", views_node.cause_json),
    ("GET", "/noc/ws", live.websocket),
    # --- incidents and maintenance windows (issue 16) ---
    ("GET", "/noc/incidents", views_incidents.incidents_page),
    ("GET", "/noc/api/incidents", views_incidents.incidents_json),
    # --- end incidents ---
]


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    app[NOC].extra["limiter"].close()
    app[NOC].store.close()


def _valid_tile_url(url: str, source: str) -> bool:
    try:
        check_tile_url(url)
    except TileUrlError as exc:
        log.warning("NOC: ignoring %s (%s): showing the map without tiles", source, exc)
        return False
    return True


def setup_noc(app: web.Application, settings: NocSettings | None = None) -> None:
    """Add the NOC to central's app: routes, static files, middleware, WebSocket poller."""
    settings = settings or NocSettings()
    cfg = app[CONFIG]
    store = NocStore(settings.db_path or state_path(cfg))
    if settings.sites_file:
        n = store.load_sites_file(settings.sites_file)
        log.info("NOC: %d sites loaded from %s", n, settings.sites_file)
    if settings.tile_url is not None and _valid_tile_url(settings.tile_url, "KOTANET_NOC_TILE_URL"):
        store.set_setting("tile_url", settings.tile_url)
    noc = Noc(settings=settings, store=store, storage=app[STORAGE],
              grace_ms=int(cfg.gap_grace_s * 1000), admin_token=cfg.http.admin_token)
    stored = store.setting("tile_url") or ""
    noc.extra["tile_url"] = stored if _valid_tile_url(stored, "the stored tile_url") else ""
    noc.extra["limiter"] = LoginGuard(settings.login_max_failures, settings.login_window_s,
                                      checks_per_s=settings.login_checks_per_s,
                                      checks_burst=settings.login_checks_burst)
    noc.extra["incidents"] = app.get(INCIDENTS)  # the alert engine's, if set up (issue 16)
    app[NOC] = noc
    setup_templates(app)
    app[live.HUB] = live.Hub(noc)
    app[AUTH] = SessionTokenAuth(app[AUTH])
    app.middlewares.append(noc_middleware)
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    app.router.add_static("/noc/static/", STATIC_DIR, follow_symlinks=False)
    app.cleanup_ctx.append(live.hub_ctx)
    app.cleanup_ctx.append(_store_ctx)
    if not (STATIC_DIR / "vendor" / "leaflet" / "leaflet.js").exists():
        log.warning("NOC: front-end libraries missing; run `make noc-assets`")


__all__ = ["NocSettings", "create_user", "setup_noc"]
