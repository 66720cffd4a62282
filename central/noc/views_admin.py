"""Admin pages: accounts and settings (tile URL, per site coordinates, contract and cost).

A refused form comes back with status 400, the reason in the user's language and every value
the admin typed (passwords excepted). Numbers may be typed the Indonesian way (-2,5583,
1.500.000) or the English way (-2.5583, 1,500,000): ``i18n.parse_num``.
"""

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
from central.noc.i18n import NumberError, num, parse_num, t
from central.noc.render import lang_of, page
from central.noc.security import csrf_ok, get_session, require
from central.noc.store import LoginSession, StoreError
from central.noc.tiles import TileUrlError, check_tile_url
from central.noc.views_incidents import notify_settings

log = logging.getLogger(__name__)


class FormError(ValueError):
    """A form value that cannot be saved; the message is already in the user's language."""


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


def store_message(lang: str, exc: StoreError) -> str:
    """A refused account change in the user's language."""
    return t(lang, exc.key, **exc.params) if exc.key else str(exc)


# ------------------------------------------------------------------ accounts
async def _users_page(request: web.Request, message: str = "", kind: str = "info",
                      status: int = 200, form: dict[str, str] | None = None) -> web.Response:
    sess = await get_session(request)
    assert sess is not None
    lang = lang_of(request)
    users = await asyncio.to_thread(request.app[NOC].store.users)
    return page(request, "users.html", t(lang, "users.title"), sess, status=status,
                message=message, kind=kind, users=users, roles=ROLES,
                form=form or {"username": "", "role": "viewer"})


@require("admin")
async def users_page(request: web.Request) -> web.StreamResponse:
    """List accounts, with forms to add and change them, and what each role may do."""
    return await _users_page(request)


async def _user_change(request: web.Request, sess: LoginSession, action: str, name: str,
                       change: Callable[[], object], detail: dict[str, Any],
                       form: dict[str, str]) -> web.Response | None:
    """Make an account change and audit it; the users page with the reason (400) if refused."""
    try:
        await asyncio.to_thread(change)
    except StoreError as exc:
        await _audit(request, sess, action, name, False, {
            "error": str(exc), "error_key": exc.key, "error_params": exc.params})
        return await _users_page(request, t(lang_of(request), "form.error_in", message=(
            store_message(lang_of(request), exc))), "error", 400, form)
    await _audit(request, sess, action, name, True, detail)
    return None


@require("admin")
async def user_create(request: web.Request) -> web.StreamResponse:
    """Add an account; audited."""
    sess, form = await _checked_form(request)
    store = request.app[NOC].store
    name, role = form.get("username", "").strip(), form.get("role", "viewer")
    refused = await _user_change(request, sess, "user.create", name, lambda: store.create_user(
        name, form.get("password", ""), role), {"role": role},
        {"username": name, "role": role if role in ROLES else "viewer"})
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
            raise StoreError("the last enabled admin cannot be demoted or disabled",
                             "err.last_admin")
        store.update_user(name, role, disabled, password)
    refused = await _user_change(request, sess, "user.update", name, change, {
        "role": role, "disabled": disabled, "password_changed": password is not None}, {})
    if refused is not None:
        return refused
    if name == sess.user.username and (password or role != sess.user.role or disabled):
        raise web.HTTPSeeOther("/noc/login")
    return await _users_page(request, t(lang_of(request), "saved"))


# ------------------------------------------------------------------ settings
def site_values(site: dict[str, Any], lang: str) -> dict[str, str]:
    """A site's numbers as typed in its form, in the user's language ('' = not set)."""
    def plain(v: Any, group: bool = False) -> str:
        if v is None:
            return ""
        if float(v) == int(v):
            return num(float(v), lang, 0, group)
        return num(float(v), lang, 6, False).rstrip("0")
    return {"lat": plain(site.get("lat")), "lon": plain(site.get("lon")),
            "capacity_mbps": plain(site.get("capacity_mbps")),
            "cost_month": plain(site.get("cost_month"), group=True)}


async def _settings_page(request: web.Request, message: str = "", kind: str = "info",
                         status: int = 200, tile_url: str | None = None,
                         typed: dict[str, str] | None = None) -> web.Response:
    """The settings page; ``typed``: the refused site form's values, shown as typed."""
    sess = await get_session(request)
    assert sess is not None
    lang = lang_of(request)
    noc = request.app[NOC]
    sites = await asyncio.to_thread(noc.store.sites)
    rows = []
    for s in sites.values():
        values = site_values(s, lang)
        bad = typed is not None and typed.get("site") == s["site"]
        if bad and typed is not None:
            values = {k: typed.get(k, "") for k in values}
        rows.append({"site": s["site"], "name": s["name"] or s["site"], "kind": s["kind"],
                     "fields": values, "error": bad})
    notify = await asyncio.to_thread(notify_settings, request, lang)  # issue 16
    return page(request, "settings.html", t(lang, "settings.title"), sess, status=status,
                message=message, kind=kind, sites=rows,
                tile_url=noc.extra.get("tile_url", "") if tile_url is None else tile_url,
                notify=notify)


@require("admin")
async def settings_page(request: web.Request) -> web.StreamResponse:
    """Map tile URL and per-site coordinates, contracted capacity and monthly cost."""
    return await _settings_page(request)


@require("admin")
async def settings_save(request: web.Request) -> web.StreamResponse:
    """Save the tile URL; audited."""
    sess, form = await _checked_form(request)
    noc = request.app[NOC]
    lang = lang_of(request)
    url = form.get("tile_url", "").strip()
    try:
        check_tile_url(url)
    except TileUrlError as exc:
        await _audit(request, sess, "setting.change", "tile_url", False, {"error": str(exc)})
        return await _settings_page(request, t(lang, "form.error_in", message=t(
            lang, "settings.bad_tile_url")), "error", 400, tile_url=url)
    await asyncio.to_thread(noc.store.set_setting, "tile_url", url)
    noc.extra["tile_url"] = url
    await _audit(request, sess, "setting.change", "tile_url", True, {"value": url})
    return await _settings_page(request, t(lang, "saved"))


def form_number(raw: str | None, label: str, lang: str, low: float, high: float,
                integer: bool = False, positive: bool = False) -> float | None:
    """A finite number in [low, high] (positive: > 0) typed in either language; '' = unset.

    FormError with the reason in the user's language."""
    raw = (raw or "").strip()
    if raw in ("", "None"):
        return None
    try:
        value = parse_num(raw, integer=integer)
    except NumberError as exc:
        raise FormError(f"{label}: {t(lang, str(exc), value=raw)}") from None
    if positive and value <= 0:
        raise FormError(t(lang, "form.positive", field=label))
    if not math.isfinite(value) or not low <= value <= high:
        if math.isinf(high):
            raise FormError(t(lang, "form.min", field=label, low=num(low, lang, 0)))
        raise FormError(t(lang, "form.range", field=label, low=num(low, lang, 0),
                          high=num(high, lang, 0)))
    return value


MAX_MBPS = 100_000.0  # 100 Gbit/s: more is a typing error
MAX_COST = 1e12  # Rupiah per month


@require("admin")
async def site_save(request: web.Request) -> web.StreamResponse:
    """Save one site's coordinates, contracted Mbit/s and monthly cost; audited."""
    sess, form = await _checked_form(request)
    noc = request.app[NOC]
    lang = lang_of(request)
    sites = await asyncio.to_thread(noc.store.sites)
    site = form.get("site", "")
    if site not in sites:
        raise web.HTTPBadRequest(text=t(lang, "settings.unknown_site", site=site))
    old = sites[site]
    try:
        lat = form_number(form.get("lat"), t(lang, "settings.lat"), lang, -90, 90)
        lon = form_number(form.get("lon"), t(lang, "settings.lon"), lang, -180, 180)
        cap = form_number(form.get("capacity_mbps"), t(lang, "settings.capacity"), lang, 0,
                          MAX_MBPS, positive=True)
        cost = form_number(form.get("cost_month"), t(lang, "settings.cost"), lang, 0, MAX_COST,
                           integer=True)
    except FormError as exc:
        await _audit(request, sess, "setting.change", f"site:{site}", False,
                     {"error": "invalid number"})
        typed = {k: form.get(k, "") for k in ("site", "lat", "lon", "capacity_mbps",
                                               "cost_month")}
        return await _settings_page(request, t(lang, "form.error_in", message=str(exc)),
                                    "error", 400, typed=typed)
    await asyncio.to_thread(noc.store.upsert_site, site, old["name"], old["kind"], lat, lon,
                            cap, cost)
    await _audit(request, sess, "setting.change", f"site:{site}", True,
                 {"lat": lat, "lon": lon, "capacity_mbps": cap, "cost_month": cost})
    return await _settings_page(request, t(lang, "saved"))
