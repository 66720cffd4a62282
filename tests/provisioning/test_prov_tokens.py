"""Enrolment tokens: signature, expiry and single use are all enforced."""

from __future__ import annotations

import base64
import json
import threading
from pathlib import Path

import pytest

from provisioning.pki import make_signing_key
from provisioning.tokens import (
    BadSignature,
    MalformedToken,
    TokenExpired,
    TokenReused,
    UsedTokens,
    check_token,
    mint_token,
    redeem_token,
)

T0 = 1_800_000_000.0


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return make_signing_key()


def test_token_redeems_once_and_carries_the_node(keys: tuple[bytes, bytes], tmp_path: Path) -> None:
    priv, pub = keys
    token, claims = mint_token(priv, "tks-01", "taman-kota-sampit", ttl_s=3600, now=T0)
    used = UsedTokens(tmp_path / "used.json")
    got = redeem_token(pub, token, used, now=T0 + 60)
    assert (got["node"], got["site"], got["jti"]) == ("tks-01", "taman-kota-sampit", claims["jti"])
    with pytest.raises(TokenReused):
        redeem_token(pub, token, used, now=T0 + 61)
    # a second token for the same node is a different token and still works
    token2, _ = mint_token(priv, "tks-01", "taman-kota-sampit", ttl_s=3600, now=T0)
    assert redeem_token(pub, token2, used, now=T0 + 62)["node"] == "tks-01"


def test_concurrent_redeems_only_one_wins(keys: tuple[bytes, bytes], tmp_path: Path) -> None:
    priv, pub = keys
    token, _ = mint_token(priv, "tks-02", "taman-kota-sampit", now=T0)
    used = UsedTokens(tmp_path / "used.json")
    results: list[str] = []

    def redeem() -> None:
        try:
            redeem_token(pub, token, used, now=T0 + 1)
            results.append("ok")
        except TokenReused:
            results.append("reused")

    threads = [threading.Thread(target=redeem) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(results) == ["ok"] + ["reused"] * 7


def test_expired_token_is_refused(keys: tuple[bytes, bytes], tmp_path: Path) -> None:
    priv, pub = keys
    token, _ = mint_token(priv, "tks-01", "s", ttl_s=600, now=T0)
    assert check_token(pub, token, now=T0 + 599)["node"] == "tks-01"
    with pytest.raises(TokenExpired):
        check_token(pub, token, now=T0 + 600)
    with pytest.raises(TokenExpired):  # issued far in the future: a forged clock
        check_token(pub, token, now=T0 - 3600)
    # refused tokens are not consumed
    with pytest.raises(TokenExpired):
        redeem_token(pub, token, UsedTokens(tmp_path / "u.json"), now=T0 + 601)
    assert not (tmp_path / "u.json").exists()


def test_tampered_or_foreign_token_is_refused(keys: tuple[bytes, bytes]) -> None:
    priv, pub = keys
    token, claims = mint_token(priv, "tks-01", "s", now=T0)
    prefix, body, sig = token.split(".")
    forged_claims = dict(claims, node="bupati-01")
    forged_body = base64.urlsafe_b64encode(json.dumps(forged_claims).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignature):
        check_token(pub, f"{prefix}.{forged_body}.{sig}", now=T0)
    other_priv, _ = make_signing_key()
    foreign, _ = mint_token(other_priv, "tks-01", "s", now=T0)
    with pytest.raises(BadSignature):
        check_token(pub, foreign, now=T0)
    for bad in ("", "kte1.abc", "jwt.a.b", token + ".x"):
        with pytest.raises(MalformedToken):
            check_token(pub, bad, now=T0)
