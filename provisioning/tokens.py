"""One-time enrolment tokens: signed with central's Ed25519 key, short expiry, single use.

Format: ``kte1.<base64url(JSON claims)>.<base64url(Ed25519 signature of the first two parts)>``.
Claims: ``v`` (1), ``aud`` ("kotanet-enroll"), ``node``, ``site``, ``jti`` (random id),
``iat`` and ``exp`` (Unix seconds). The token is the only secret written to an SD card; the node
exchanges it once, at first boot, for its real credentials (see docs/field-guide.md).
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

log = logging.getLogger(__name__)

PREFIX = "kte1"
AUDIENCE = "kotanet-enroll"
DEFAULT_TTL_S = 72 * 3600
CLOCK_SKEW_S = 300


class TokenError(ValueError):
    """A token that must not be accepted; ``reason`` is a short stable code (central maps it
    to its enrolment answer). Each subclass names its reason in its class line."""

    reason = "invalid"

    def __init_subclass__(cls, reason: str = "invalid", **kw: object) -> None:
        super().__init_subclass__(**kw)
        cls.reason = reason


class MalformedToken(TokenError, reason="malformed"):
    """Not a kte1 token."""


class BadSignature(TokenError, reason="bad_signature"):
    """The signature does not verify with central's public key."""


class TokenExpired(TokenError, reason="expired"):
    """Past its expiry (or issued in the future beyond the allowed skew)."""


class TokenReused(TokenError, reason="reused"):
    """Already exchanged once."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_token(private_pem: bytes, node: str, site: str, ttl_s: int = DEFAULT_TTL_S,
               now: float | None = None) -> tuple[str, dict[str, Any]]:
    """A new signed token for one node: (token, claims)."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValueError("the signing key is not an Ed25519 key")
    iat = int(time.time() if now is None else now)
    claims = {"v": 1, "aud": AUDIENCE, "node": node, "site": site,
              "jti": secrets.token_urlsafe(16), "iat": iat, "exp": iat + int(ttl_s)}
    body = f"{PREFIX}.{_b64(json.dumps(claims, sort_keys=True).encode())}"
    return f"{body}.{_b64(key.sign(body.encode()))}", claims


def check_token(public_pem: bytes, token: str, now: float | None = None) -> dict[str, Any]:
    """Verify format, signature and expiry (not single use); return the claims."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise MalformedToken("not a kte1 enrolment token")
    key = serialization.load_pem_public_key(public_pem)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ValueError("the verification key is not an Ed25519 key")
    try:
        key.verify(_unb64(parts[2]), f"{parts[0]}.{parts[1]}".encode())
    except (InvalidSignature, ValueError):
        raise BadSignature("signature does not verify") from None
    try:
        claims = json.loads(_unb64(parts[1]))
        exp, iat = int(claims["exp"]), int(claims["iat"])
        if claims.get("aud") != AUDIENCE or claims.get("v") != 1:
            raise ValueError("wrong audience or version")
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedToken(f"bad claims: {exc}") from None
    t = time.time() if now is None else now
    if t >= exp or iat > t + CLOCK_SKEW_S:
        raise TokenExpired("token expired or not yet valid")
    return dict(claims)


class UsedTokens:
    """A file of consumed token ids, locked so two enrolments cannot both win.

    Each entry maps the token id to its expiry, or to ``{"exp", "bind"}`` when the consumer bound
    it to a digest of a secret only the enrolling node knows (so that node may retry).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _update(self, claims: dict[str, Any], bind: str | None, now: float | None) -> bool:
        t = time.time() if now is None else now
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(fd, "r+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            text = fh.read()
            used: dict[str, Any] = json.loads(text) if text.strip() else {}
            prev = used.get(claims["jti"])
            if prev is not None:
                prev_bind = prev.get("bind") if isinstance(prev, dict) else None
                if bind is not None and prev_bind is not None and secrets.compare_digest(
                        str(prev_bind), bind):
                    return False
                raise TokenReused(f"token for node {claims.get('node')} was already used")
            used = {j: e for j, e in used.items()
                    if (e["exp"] if isinstance(e, dict) else e) > t - CLOCK_SKEW_S}
            exp = int(claims["exp"])
            used[claims["jti"]] = {"exp": exp, "bind": bind} if bind is not None else exp
            fh.seek(0)
            fh.truncate()
            fh.write(json.dumps(used, sort_keys=True))
            fh.flush()
            os.fsync(fh.fileno())
        log.info("enrolment token of node %s consumed", claims.get("node"))
        return True

    def consume(self, claims: dict[str, Any], now: float | None = None) -> None:
        """Mark a token used; raise TokenReused if it already was. Prunes expired entries."""
        self._update(claims, None, now)

    def consume_bound(self, claims: dict[str, Any], bind: str, now: float | None = None) -> bool:
        """Consume a token bound to ``bind`` (a digest): True if fresh, False if the same binder
        retries; TokenReused for anyone else."""
        return self._update(claims, bind, now)


def redeem_token(public_pem: bytes, token: str, used: UsedTokens,
                 now: float | None = None) -> dict[str, Any]:
    """Verify a token and consume it (what central's future enroll endpoint calls)."""
    claims = check_token(public_pem, token, now)
    used.consume(claims, now)
    return claims
