"""The NOC's cookies: session id, pre-login CSRF token and language, with safe attributes."""

from __future__ import annotations

import secrets

from aiohttp import web

from central.api.client_addr import request_forwarded_https
from central.noc.context import NOC

SESSION_COOKIE = "kt_session"
PRE_COOKIE = "kt_precsrf"  # double-submit token of the (not yet logged in) login form


def new_secret() -> str:
    """A random session id or CSRF token."""
    return secrets.token_urlsafe(32)


def is_secure(request: web.Request) -> bool:
    """True if cookies must carry the Secure flag (https, also as told by a trusted proxy)."""
    return (request.app[NOC].settings.secure_cookies or request.secure
            or request_forwarded_https(request))


def set_cookie(resp: web.StreamResponse, request: web.Request, name: str, value: str,
               max_age: int | None = None, http_only: bool = True) -> None:
    """Set a cookie with HttpOnly, SameSite=Strict, Path=/ and Secure on https."""
    resp.set_cookie(name, value, max_age=max_age, path="/", httponly=http_only,
                    samesite="Strict", secure=is_secure(request))
