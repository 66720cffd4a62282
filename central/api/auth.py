"""Bearer-token auth of the API: tokens with roles (viewer < operator < admin), stored only as
SHA-256 digests, and ``guard``/``add_routes`` that put a role in front of a route table."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from aiohttp import web

from central.api.jsonout import json_response
from central.storage.base import Storage

ROLES: tuple[str, ...] = ("viewer", "operator", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: One route: method, path, handler and the least role it needs (None = open).
Route = tuple[str, str, Handler, str | None]


def role_at_least(role: str, needed: str) -> bool:
    """True if role ranks at or above needed (an unknown role ranks below every role)."""
    return _RANK.get(role, -1) >= _RANK[needed]


@dataclass(frozen=True)
class Principal:
    """Who called: a token name and its role."""

    name: str
    role: str

    def can(self, role: str) -> bool:
        """True if this principal's role is at least the given one."""
        return role_at_least(self.role, role)


def token_digest(token: str) -> str:
    """Hex SHA-256 of a token, as stored in the api_tokens table."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A fresh random API token (show it once, store only token_digest())."""
    return "kt_" + secrets.token_urlsafe(32)


class TokenAuth:
    """Resolves Bearer tokens: the bootstrap admin token, then tokens stored in the database."""

    def __init__(self, storage: Storage, admin_token: str | None) -> None:
        self.storage = storage
        self._admin = admin_token.encode() if admin_token else None

    def create(self, name: str, role: str) -> str:
        """Create and store a token with a role; returns the token (shown once)."""
        if role not in _RANK:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        token = new_token()
        self.storage.add_token(name, role, token_digest(token))
        return token

    def resolve(self, header: str | None) -> Principal | None:
        """The principal of an 'Authorization: Bearer <token>' header, or None."""
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        if self._admin is not None and hmac.compare_digest(token.encode(), self._admin):
            return Principal("bootstrap-admin", "admin")
        found = self.storage.token_role(token_digest(token))
        return Principal(*found) if found else None


AUTH = web.AppKey("auth", TokenAuth)


def json_error(status: int, message: str) -> web.Response:
    """A JSON error answer {"error": message} (401 also says how to authenticate)."""
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return json_response({"error": message}, status=status, headers=headers)


def guard(role: str | None, handler: Handler) -> Handler:
    """Wrap a handler so it needs a Bearer token of at least this role (None = open)."""
    async def wrapped(request: web.Request) -> web.StreamResponse:
        if role is not None:
            auth = request.app[AUTH]
            who: Principal | None = await asyncio.to_thread(
                auth.resolve, request.headers.get("Authorization"))
            if who is None:
                return json_error(401, "missing or invalid Bearer token")
            if not who.can(role):
                return json_error(403, f"needs role {role}, token has {who.role}")
        return await handler(request)
    return wrapped


def add_routes(app: web.Application, routes: Iterable[Route]) -> None:
    """Add a feature's route table to the app, each handler behind its role's guard."""
    for method, path, handler, role in routes:
        app.router.add_route(method, path, guard(role, handler))
