"""Log in and out, first-admin set-up, and the language switch."""

from __future__ import annotations

import asyncio
import hmac
import logging
from functools import partial
from urllib.parse import urlsplit

from aiohttp import web

from central.api.client_addr import client_ip
from central.noc import passwords
from central.noc.context import NOC
from central.noc.cookies import PRE_COOKIE, SESSION_COOKIE, new_secret, set_cookie
from central.noc.i18n import LANG_COOKIE, LANGS, t
from central.noc.login_guard import LoginGuard, Reservation
from central.noc.render import lang_of, page
from central.noc.security import csrf_ok, get_session
from central.noc.store import StoreError

log = logging.getLogger(__name__)


def _see_other(location: str) -> web.Response:
    """A 303 redirect that can carry cookies."""
    return web.Response(status=303, headers={"Location": location})


def _safe_next(value: str | None) -> str:
    """Only same-site paths under /noc/ (no open redirect)."""
    if not value or not value.startswith("/noc") or value.startswith("//"):
        return "/noc/"
    parts = urlsplit(value)
    return "/noc/" if parts.scheme or parts.netloc else value


def _login_form(request: web.Request, pre: str, message: str = "", kind: str = "error",
                status: int = 200, nxt: str | None = None, username: str = "") -> web.Response:
    """The login page; its form carries the double-submit token ``pre`` and ``next`` (the
    query's on the first visit, the posted one after a refusal) and keeps the account name."""
    return page(request, "login.html", t(lang_of(request), "login.title"), None, status=status,
                pre=pre, message=message, kind=kind, username=username,
                next=_safe_next(request.query.get("next") if nxt is None else nxt))


async def login_page(request: web.Request) -> web.StreamResponse:
    """The login form (or the first-admin form while no user exists)."""
    noc = request.app[NOC]
    if await asyncio.to_thread(noc.store.user_count) == 0:
        raise web.HTTPSeeOther("/noc/setup")
    if await get_session(request) is not None:
        raise web.HTTPSeeOther("/noc/")
    return _login_form(request, request.cookies.get(PRE_COOKIE) or new_secret())


async def _start_session(request: web.Request, username: str, nxt: str) -> web.StreamResponse:
    sid, csrf = new_secret(), new_secret()
    await asyncio.to_thread(request.app[NOC].store.add_session, sid, username, csrf)
    resp = _see_other(_safe_next(nxt))
    set_cookie(resp, request, SESSION_COOKIE, sid)
    resp.del_cookie(PRE_COOKIE, path="/")
    return resp


async def login(request: web.Request) -> web.StreamResponse:
    """Check the password (rate-limited per IP and user), start a session, audit it."""
    noc = request.app[NOC]
    form = await request.post()
    lang = lang_of(request)
    pre = request.cookies.get(PRE_COOKIE, "")
    nxt = _safe_next(str(form.get("next", "")))
    user, pw = str(form.get("username", "")).strip()[:64], str(form.get("password", ""))
    if not pre or not csrf_ok(pre, str(form.get("csrf", ""))):
        return _login_form(request, new_secret(), t(lang, "csrf.bad"), status=403, nxt=nxt,
                           username=user)
    ip = client_ip(request)
    guard: LoginGuard = noc.extra["limiter"]
    res = guard.reserve(ip, user)
    if not isinstance(res, Reservation):
        wait, key = res
        detail = guard.audit_refusal(key)
        if detail is not None:
            await asyncio.to_thread(noc.store.audit, user, ip, "login", user, False, detail)
        resp = _login_form(request, pre, t(lang, "login.limited", s=wait), status=429,
                           nxt=nxt, username=user)
        resp.headers["Retry-After"] = str(wait)
        return resp
    ok = False
    try:
        found = await asyncio.to_thread(noc.store.pw_hash, user)
        loop = asyncio.get_running_loop()
        ok = await loop.run_in_executor(guard.executor, guard.verify(
            partial(passwords.verify_password, found[1] if found else None, pw)))
        ok = ok and found is not None and not found[0].disabled
    finally:
        guard.resolve(res, ok)
    if ok and found is not None:
        if passwords.needs_rehash(found[1]):
            new_hash = await loop.run_in_executor(guard.executor, passwords.hash_password, pw)
            await asyncio.to_thread(noc.store.set_hash, user, new_hash)
        await asyncio.to_thread(noc.store.audit, user, ip, "login", user, True)
        return await _start_session(request, user, nxt)
    await asyncio.to_thread(noc.store.audit, user, ip, "login", user, False)
    return _login_form(request, pre, t(lang, "login.failed"), status=401, nxt=nxt,
                       username=user)


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session (POST with CSRF)."""
    sess = await get_session(request)
    form = await request.post()
    if sess is not None and not csrf_ok(sess.csrf, str(form.get("csrf", ""))):
        return _see_other("/noc/")  # a forged logout changes nothing
    if sess is not None:
        noc = request.app[NOC]
        await asyncio.to_thread(noc.store.drop_session, sess.sid_sha256)
        await asyncio.to_thread(noc.store.audit, sess.user.username, client_ip(request),
                                "logout", sess.user.username, True)
    resp = _see_other("/noc/login")
    resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


def _setup_form(request: web.Request, pre: str, message: str = "",
                status: int = 200, username: str = "") -> web.Response:
    """The first-admin page; its form carries the double-submit token ``pre``."""
    return page(request, "setup.html", t(lang_of(request), "setup.title"), None, status=status,
                pre=pre, message=message, username=username)


async def setup_page(request: web.Request) -> web.StreamResponse:
    """First-admin form: only while no account exists."""
    if await asyncio.to_thread(request.app[NOC].store.user_count) > 0:
        raise web.HTTPSeeOther("/noc/login")
    return _setup_form(request, request.cookies.get(PRE_COOKIE) or new_secret())


async def setup(request: web.Request) -> web.StreamResponse:
    """Create the first admin, proven by central's admin token."""
    noc = request.app[NOC]
    lang = lang_of(request)
    if await asyncio.to_thread(noc.store.user_count) > 0:
        raise web.HTTPSeeOther("/noc/login")
    form = await request.post()
    pre = request.cookies.get(PRE_COOKIE, "")
    user = str(form.get("username", "")).strip()[:64]
    if not pre or not csrf_ok(pre, str(form.get("csrf", ""))):
        return _setup_form(request, new_secret(), t(lang, "csrf.bad"), 403, user)
    ip = client_ip(request)
    token = str(form.get("token", ""))
    if not noc.admin_token or not hmac.compare_digest(token.encode(), noc.admin_token.encode()):
        await asyncio.to_thread(noc.store.audit, "anonymous", ip, "setup", "", False)
        return _setup_form(request, pre, t(lang, "setup.bad_token"), 403, user)
    try:
        await asyncio.to_thread(noc.store.create_user, user, str(form.get("password", "")),
                                "admin")
    except StoreError as exc:
        return _setup_form(request, pre, t(lang, exc.key, **exc.params) if exc.key
                           else str(exc), 400, user)
    await asyncio.to_thread(noc.store.audit, "central-admin-token", ip, "user.create", user,
                            True, {"role": "admin"})
    return await _start_session(request, user, "/noc/")


async def set_lang(request: web.Request) -> web.StreamResponse:
    """Remember the chosen language in a cookie and go back (POST with CSRF)."""
    sess = await get_session(request)
    form = await request.post()
    expected = sess.csrf if sess is not None else request.cookies.get(PRE_COOKIE, "")
    if not expected or not csrf_ok(expected, str(form.get("csrf", ""))):
        raise web.HTTPForbidden(text=t(lang_of(request), "csrf.bad"))
    lang = str(form.get("lang", ""))
    resp = _see_other(_safe_next(str(form.get("next", ""))))
    if lang in LANGS:
        set_cookie(resp, request, LANG_COOKIE, lang, max_age=365 * 86400)
    return resp
