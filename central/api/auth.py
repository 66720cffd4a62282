"""API tokens with roles (viewer < operator < admin); only SHA-256 digests are stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from central.storage import Storage

ROLES: tuple[str, ...] = ("viewer", "operator", "admin")
_RANK = {r: i for i, r in enumerate(ROLES)}


@dataclass(frozen=True)
class Principal:
    """Who called: a token name and its role."""

    name: str
    role: str

    def can(self, role: str) -> bool:
        """True if this principal's role is at least the given one."""
        return _RANK[self.role] >= _RANK[role]


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
