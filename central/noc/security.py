"""Sessions, roles, CSRF, login rate limit, security headers and the session-to-API bridge."""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from central.api.auth import Handler, Principal, TokenAuth, role_at_least
from central.api.client_addr import client_ip
from central.api.jsonout import json_response
from central.noc.context import NOC
from central.noc.cookies import SESSION_COOKIE
from central.noc.i18n import CATALOG, t
from central.noc.render import lang_of, page
from central.noc.store import LoginSession
from central.noc.tiles import tile_origin

log = logging.getLogger(__name__)

SESSION_KEY: Any = (web.RequestKey("noc_session", object) if hasattr(web, "RequestKey")
                    else "noc_session")  # aiohttp < 3.12 has no RequestKey
_PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "noc_principal", default=None)


async def get_session(request: web.Request) -> LoginSession | None:
    """The request's live session (cached on the request), or None."""
    if SESSION_KEY in request:
        cached = request[SESSION_KEY]
        return cached if isinstance(cached, LoginSession) else None
    sid = request.cookies.get(SESSION_COOKIE)
    sess = None
    if sid:
        noc = request.app[NOC]
        sess = await asyncio.to_thread(noc.store.session, sid,
                                       int(noc.settings.session_idle_s * 1000))
    request[SESSION_KEY] = sess if sess is not None else False
    return sess


def csrf_ok(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a CSRF token."""
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).encode())


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/noc/api/") or request.path.endswith(".csv")


def _is_page(request: web.Request) -> bool:
    """A NOC page (not JSON, CSV, static files or the WebSocket): errors render in the layout."""
    path = request.path
    return (path == "/noc" or path.startswith("/noc/")) and not _wants_json(request) and \
        not path.startswith("/noc/static/") and path != "/noc/ws"


async def error_page(request: web.Request, status: int, message: str = "") -> web.Response:
    """An error inside the NOC layout, in the request's language (title from the catalogue)."""
    lang = lang_of(request)
    key = f"error.{status}" if f"error.{status}" in CATALOG else "error.other"
    title = t(lang, key, status=status)
    return page(request, "error.html", title, await get_session(request), status=status,
                message=message or title)


def require(role: str) -> Callable[[Handler], Handler]:
    """Decorator: the handler needs a logged-in user of at least this role."""
    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            sess = await get_session(request)
            if sess is None:
                if _wants_json(request):
                    return json_response({"error": "login required"}, status=401)
                raise web.HTTPSeeOther(f"/noc/login?next={quote(request.path_qs, safe='')}")
            if not role_at_least(sess.user.role, role):
                if _wants_json(request):
                    return json_response({"error": f"needs role {role}"}, status=403)
                lang = lang_of(request)
                return await error_page(request, 403, t(lang, "forbidden_role",
                                                        role=t(lang, f"acct.{role}")))
            return await handler(request)
        guarded.__doc__ = handler.__doc__
        guarded.__name__ = handler.__name__
        return guarded
    return wrap


class SessionTokenAuth(TokenAuth):
    """Central's Bearer-token auth, plus the NOC session of the current request."""

    def __init__(self, inner: TokenAuth) -> None:
        self.storage = inner.storage
        self._admin = inner._admin
        self._inner = inner

    def resolve(self, header: str | None) -> Principal | None:
        """The Bearer token's principal, else the logged-in NOC user of this request."""
        if header:
            return self._inner.resolve(header)
        return _PRINCIPAL.get()


CSP = ("default-src 'self'; img-src 'self' data: {tiles}; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")


async def _bridge(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Let a logged-in browser use central's /api/v1 with its session (CSRF on writes)."""
    sess = await get_session(request)
    if sess is None:
        return await handler(request)
    write = request.method not in ("GET", "HEAD", "OPTIONS")
    noc = request.app[NOC]
    if write and not csrf_ok(sess.csrf, request.headers.get("X-CSRF-Token")):
        return json_response({"error": "missing or wrong X-CSRF-Token"}, status=403)
    if write and not role_at_least(sess.user.role, "operator"):
        await asyncio.to_thread(noc.store.audit, sess.user.username, client_ip(request),
                                "api." + request.method.lower(), request.path, False,
                                {"refused": "role " + sess.user.role})
        return json_response({"error": "needs role operator"}, status=403)
    body: Any = None
    if write:
        try:
            body = json.loads(await request.read() or b"null")
        except ValueError:
            body = None
    token = _PRINCIPAL.set(Principal(f"noc:{sess.user.username}", sess.user.role))
    status = 500
    try:
        resp = await handler(request)
        status = resp.status
        return resp
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        _PRINCIPAL.reset(token)
        if write:
            detail = {"status": status}
            if isinstance(body, dict):
                detail.update({k: body[k] for k in ("kind", "params", "ttl_s") if k in body})
            action = "command" if request.path.endswith("/commands") else "api.write"
            await asyncio.to_thread(noc.store.audit, sess.user.username, client_ip(request),
                                    action, request.path, 200 <= status < 300, detail)


def _detail(exc: web.HTTPException) -> str:
    """The handler's own message of an HTTP error ('' for aiohttp's default '404: Not Found')."""
    text = exc.text or ""
    return "" if text == f"{exc.status}: {exc.reason}" else text


@web.middleware
async def noc_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Session bridge for /api/ and security headers for /noc/ pages."""
    if request.path.startswith("/api/") and "Authorization" not in request.headers:
        return await _bridge(request, handler)
    try:
        resp = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or not _is_page(request):
            raise
        resp = await error_page(request, exc.status, _detail(exc))
        for name in ("Allow", "Retry-After"):
            if name in exc.headers:
                resp.headers[name] = exc.headers[name]
    except Exception:
        if not _is_page(request):
            raise
        log.exception("NOC page %s failed", request.path)
        resp = await error_page(request, 500)
    if request.path.startswith("/noc") and not resp.prepared:
        tiles = tile_origin(str(request.app[NOC].extra.get("tile_url", "")))
        resp.headers.setdefault("Content-Security-Policy", CSP.format(tiles=tiles))
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.path.startswith("/noc/static/"):
            resp.headers.setdefault("Cache-Control", "no-store")
    return resp

