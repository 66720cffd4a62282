"""Admin pages: user management, the audit log and settings (tile URL, site data)."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

from aiohttp import web

from central.api.auth import ROLES
from central.api.client_addr import client_ip
from central.noc.context import NOC
from central.noc.i18n import t
from central.noc.render import lang_of, page
from central.noc.security import csrf_ok, get_session, require
from central.noc.store import LoginSession, StoreError
from central.noc.tiles import TileUrlError, check_tile_url
from central.noc.views_incidents import notify_settings

log = logging.getLogger(__name__)


async def _checked_form(request: web.Request) -> tuple[LoginSession, dict[str, str]]:
    sess = await get_session(request)
    assert sess is not None  # @require ran first
    form = {k: str(v) for k, v in (await request.post()).items()}
    if not csrf_ok(sess.csrf, form.get("csrf")):
        raise web.HTTPForbidden(text=t(lang_of(request), "csrf.bad"))
    return sess, form


async def _audit(request: web.Request, sess: LoginSession, action: str, target: str, ok: bool,
                 detail: dict[str, Any]) -> None:
    """Append the audit record of an admin's change (actor and client address of the request)."""
    await asyncio.to_thread(request.app[NOC].store.audit, sess.user.username, client_ip(request),
                            action, target, ok, detail)


async def _users_page(request: web.Request, message: str = "", kind: str = "info",
                      status: int = 200) -> web.Response:
    sess = await get_session(request)
    assert sess is not None
    lang = lang_of(request)
    users = await asyncio.to_thread(request.app[NOC].store.users)
    return page(request, "users.html", t(lang, "users.title"), sess, status=status,
                message=message, kind=kind, users=users, roles=ROLES)


@require("admin")
async def users_page(request: web.Request) -> web.StreamResponse:
    """List accounts, with forms to add and change them."""
    return await _users_page(request)


async def _user_change(request: web.Request, sess: LoginSession, action: str, name: str,
                       change: Callable[[], object], detail: dict[str, Any]) -> web.Response | None:
    """Make an account change and audit it; the users page with the reason (400) if refused."""
    try:
        await asyncio.to_thread(change)
    except StoreError as exc:
        await _audit(request, sess, action, name, False, {"error": str(exc)})
        return await _users_page(request, str(exc), "error", 400)
    await _audit(request, sess, action, name, True, detail)
    return None


@require("admin")
async def user_create(request: web.Request) -> web.StreamResponse:
    """Add an account; audited."""
    sess, form = await _checked_form(request)
    store = request.app[NOC].store
    name, role = form.get("username", ""), form.get("role", "viewer")
    refused = await _user_change(request, sess, "user.create", name, lambda: store.create_user(
        name, form.get("password", ""), role), {"role": role})
    return refused or await _users_page(request, t(lang_of(request), "saved"))


@require("admin")
async def user_update(request: web.Request) -> web.StreamResponse:
    """Change role, disabled flag or password of an account (its sessions end); audited."""
    sess, form = await _checked_form(request)
    store = request.app[NOC].store
    name = request.match_info["user"]
    role, disabled = form.get("role"), form.get("disabled") == "1"
    password = form.get("password") or None

    def change() -> None:
        if (role != "admin" or disabled) and store.admins_left(name) == 0:
            raise StoreError("the last enabled admin cannot be demoted or disabled")
        store.update_user(name, role, disabled, password)
    refused = await _user_change(request, sess, "user.update", name, change, {
        "role": role, "disabled": disabled, "password_changed": password is not None})
    if refused is not None:
        return refused
    if name == sess.user.username and (password or role != sess.user.role or disabled):
        raise web.HTTPSeeOther("/noc/login")
    return await _users_page(request, t(lang_of(request), "saved"))


@require("admin")
async def audit_page(request: web.Request) -> web.StreamResponse:
    """The newest audit records (logins, user changes, commands, settings)."""
    sess = await get_session(request)
    lang = lang_of(request)
    recs = await asyncio.to_thread(request.app[NOC].store.audit_log, 500)
    return page(request, "audit.html", t(lang, "audit.title"), sess, records=recs)


async def _settings_page(request: web.Request, message: str = "") -> web.Response:
    sess = await get_session(request)
    assert sess is not None
    lang = lang_of(request)
    noc = request.app[NOC]
    sites = await asyncio.to_thread(noc.store.sites)
    notify = await asyncio.to_thread(notify_settings, request, lang)  # issue 16
    return page(request, "settings.html", t(lang, "settings.title"), sess, message=message,
                tile_url=noc.extra.get("tile_url", ""), sites=list(sites.values()),
                notify=notify)


@require("admin")
async def settings_page(request: web.Request) -> web.StreamResponse:
    """Map tile URL and per-site coordinates and contracted capacity."""
    return await _settings_page(request)


@require("admin")
async def settings_save(request: web.Request) -> web.StreamResponse:
    """Save the tile URL; audited."""
    sess, form = await _checked_form(request)
    noc = request.app[NOC]
    url = form.get("tile_url", "").strip()
    try:
        check_tile_url(url)
    except TileUrlError as exc:
        await _audit(request, sess, "setting.change", "tile_url", False, {"error": str(exc)})
        raise web.HTTPBadRequest(text=str(exc)) from None
    await asyncio.to_thread(noc.store.set_setting, "tile_url", url)
    noc.extra["tile_url"] = url
    await _audit(request, sess, "setting.change", "tile_url", True, {"value": url})
    return await _settings_page(request, t(lang_of(request), "saved"))


def _num(raw: str | None, name: str, low: float, high: float) -> float | None:
    """A finite number in [low, high] from a form field ('' = unset), else 400."""
    if raw in (None, "", "None"):
        return None
    try:
        value = float(str(raw))
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: not a number: {raw!r}") from None
    if not math.isfinite(value) or not low <= value <= high:
        span = f">= {low:g}" if math.isinf(high) else f"in {low:g}..{high:g}"
        raise web.HTTPBadRequest(text=f"{name}: must be a finite number {span}")
    return value


@require("admin")
async def site_save(request: web.Request) -> web.StreamResponse:
    """Save one site's coordinates and contracted capacity; audited."""
    sess, form = await _checked_form(request)
    noc = request.app[NOC]
    sites = await asyncio.to_thread(noc.store.sites)
    site = form.get("site", "")
    old = sites.get(site, {"name": site, "kind": "park"})
    lat, lon = _num(form.get("lat"), "lat", -90, 90), _num(form.get("lon"), "lon", -180, 180)
    cap = _num(form.get("capacity_mbps"), "capacity_mbps", 0, math.inf)
    await asyncio.to_thread(noc.store.upsert_site, site, old["name"], old["kind"], lat, lon, cap)
    await _audit(request, sess, "setting.change", f"site:{site}", True,
                 {"lat": lat, "lon": lon, "capacity_mbps": cap})
    return await _settings_page(request, t(lang_of(request), "saved"))
