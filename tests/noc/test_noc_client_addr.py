"""The client address behind trusted reverse proxies: the X-Forwarded-For algorithm, the
[http] trusted_proxies config, and the NOC login limit and audit log through a real server."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from noc_helpers import (
    ADMIN_TOKEN,
    PASSWORD,
    SITES_FILE,
    ServerThread,
    csrf_of,
    fill,
    open_db,
    run_async,
)

from central.api.app import make_app
from central.api.client_addr import (
    TRUSTED_PROXIES,
    client_address,
    forwarded_https,
    trusted_networks,
)
from central.collector.stats import Stats
from central.config import ConfigError, load_config
from central.noc import NocSettings, setup_noc
from central.noc.store import NocStore, create_user

TRUSTED = trusted_networks(["127.0.0.1/32", "10.0.0.0/8", "fd00::/8"])


# --- the algorithm ---------------------------------------------------------------------------

@pytest.mark.parametrize(("peer", "xff", "want"), [
    # a trusted proxy: the rightmost untrusted entry is the client
    ("127.0.0.1", "203.0.113.5", "203.0.113.5"),
    ("127.0.0.1", " 203.0.113.5 ", "203.0.113.5"),
    # spoofed left entries are never reached: the proxy appended the real address
    ("127.0.0.1", "1.2.3.4, 203.0.113.5", "203.0.113.5"),
    ("127.0.0.1", "127.0.0.1, 10.1.1.1, 203.0.113.5", "203.0.113.5"),
    ("127.0.0.1", "garbage, 203.0.113.5", "203.0.113.5"),
    # a chain of trusted proxies is skipped from the right
    ("127.0.0.1", "198.51.100.7, 10.0.0.2", "198.51.100.7"),
    ("10.2.3.4", "1.2.3.4, 198.51.100.7, 10.0.0.9, 10.0.0.2", "198.51.100.7"),
    # every entry trusted: the leftmost one
    ("127.0.0.1", "10.0.0.7, 10.0.0.2", "10.0.0.7"),
    # IPv6 proxies and clients (and IPv4-mapped forms folded to IPv4)
    ("fd00::1", "2001:db8::1", "2001:db8::1"),
    ("fd00::1", "2001:db8::dead, fd12::3", "2001:db8::dead"),
    ("127.0.0.1", "2001:DB8:0:0::1", "2001:db8::1"),
    ("::ffff:127.0.0.1", "203.0.113.5", "203.0.113.5"),
    ("127.0.0.1", "::ffff:203.0.113.5", "203.0.113.5"),
    # no or empty header: the peer
    ("127.0.0.1", None, "127.0.0.1"),
    ("127.0.0.1", "", "127.0.0.1"),
    ("127.0.0.1", "  ", "127.0.0.1"),
])
def test_trusted_peer_takes_the_rightmost_untrusted_forwarded_address(
        peer: str, xff: str | None, want: str) -> None:
    assert client_address(peer, xff, TRUSTED) == want


@pytest.mark.parametrize(("peer", "xff"), [
    ("198.51.100.20", "203.0.113.5"),  # a client talking to central directly
    ("198.51.100.20", "127.0.0.1, 10.0.0.1"),
    ("2001:db8::20", "203.0.113.5"),
    ("11.0.0.1", "203.0.113.5"),  # just outside 10.0.0.0/8
    ("fe00::1", "203.0.113.5"),  # just outside fd00::/8
])
def test_untrusted_peer_ignores_forwarded_for(peer: str, xff: str) -> None:
    assert client_address(peer, xff, TRUSTED) == peer


def test_no_trusted_proxies_is_todays_behaviour() -> None:
    assert client_address("127.0.0.1", "203.0.113.5", ()) == "127.0.0.1"
    assert client_address(None, "203.0.113.5", ()) == "?"
    assert client_address(None, "203.0.113.5", TRUSTED) == "?"
    assert not forwarded_https("127.0.0.1", "https", ())


@pytest.mark.parametrize("xff", [
    "not-an-ip", "203.0.113.5:4711", "[2001:db8::1]", "203.0.113.5,", "203.0.113.5, , 10.0.0.1",
    "203.0.113.5, 10.0.0.1:80", "999.1.1.1", "unknown",
])
def test_malformed_forwarded_for_falls_back_to_the_peer(
        xff: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="central.api.client_addr")
    assert client_address("10.0.0.1", xff, TRUSTED) == "10.0.0.1"
    assert "malformed" in caplog.text


def test_forwarded_proto_only_from_a_trusted_proxy() -> None:
    assert forwarded_https("127.0.0.1", "https", TRUSTED)
    assert forwarded_https("127.0.0.1", " HTTPS ", TRUSTED)
    assert forwarded_https("10.0.0.3", "https, http", TRUSTED)  # the client-facing hop
    assert not forwarded_https("127.0.0.1", "http", TRUSTED)
    assert not forwarded_https("127.0.0.1", None, TRUSTED)
    assert not forwarded_https("198.51.100.20", "https", TRUSTED)


# --- configuration ---------------------------------------------------------------------------

def test_trusted_proxies_config_file_and_env(tmp_path: Path) -> None:
    assert load_config(None, env={}).http.trusted_proxies == []
    toml = tmp_path / "central.toml"
    toml.write_text('[http]\ntrusted_proxies = ["127.0.0.1/32", "10.0.0.0/8", "::1"]\n')
    assert load_config(toml, env={}).http.trusted_proxies == [
        "127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    env = {"KOTANET_TRUSTED_PROXIES": " 192.168.0.0/16 , fd00::/8,"}  # env overrides the file
    assert load_config(toml, env=env).http.trusted_proxies == ["192.168.0.0/16", "fd00::/8"]


@pytest.mark.parametrize(("value", "message"), [
    ('["10.0.0.0/8", "10.0.0.300/8"]', "'10.0.0.300/8' is not an IP network"),
    ('["10.0.0.1/8"]', "has host bits set (did you mean 10.0.0.0/8?)"),
    ('["nginx.local"]', "'nginx.local' is not an IP network"),
    ('"10.0.0.0/8"', "valid list"),
])
def test_a_bad_trusted_proxy_fails_with_the_key_named(
        tmp_path: Path, value: str, message: str) -> None:
    toml = tmp_path / "central.toml"
    toml.write_text(f"[http]\ntrusted_proxies = {value}\n")
    with pytest.raises(ConfigError, match="http.trusted_proxies") as err:
        load_config(toml, env={})
    assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match=r"http\.trusted_proxies.*'bogus'"):
        load_config(None, env={"KOTANET_TRUSTED_PROXIES": "127.0.0.1,bogus"})


def test_central_app_carries_the_trusted_networks(tmp_path: Path) -> None:
    from central.assemble import build_app as build_central
    from central.noc.context import NOC

    cfg = load_config(None, env={"KOTANET_DB": f"sqlite:///{tmp_path / 'c.db'}",
                                 "KOTANET_TRUSTED_PROXIES": "127.0.0.1/32,fd00::/8"})
    storage = open_db(tmp_path / "c.db")
    try:
        app = build_central(cfg, storage, Stats(), with_policy=False)  # not started
        assert app[TRUSTED_PROXIES] == trusted_networks(["127.0.0.1/32", "fd00::/8"])
        app[NOC].store.close()
    finally:
        storage.close()


# --- through the real NOC server -------------------------------------------------------------

def _serve(db: Path, trusted: str) -> tuple[ServerThread, Any]:
    """Central + NOC as assemble.py wires it (trusted proxies from KOTANET_TRUSTED_PROXIES)."""
    cfg = load_config(None, env={"KOTANET_DB": f"sqlite:///{db}", "KOTANET_HTTP": "127.0.0.1:1",
                                 "KOTANET_ADMIN_TOKEN": ADMIN_TOKEN,
                                 "KOTANET_TRUSTED_PROXIES": trusted})
    storage = open_db(db)
    fill(storage, [("taman-kota-sampit-01", "taman-kota-sampit")])
    app = make_app(cfg, storage, Stats())
    app[TRUSTED_PROXIES] = trusted_networks(cfg.http.trusted_proxies)  # as in assemble.py
    setup_noc(app, NocSettings(sites_file=str(SITES_FILE), login_max_failures=3))
    return ServerThread(app).start(), storage


async def _login(base: str, xff: str, user: str, password: str = PASSWORD) -> int:
    """One login through the form, the request coming 'from' X-Forwarded-For xff."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     headers={"X-Forwarded-For": xff}) as http:
        async with http.get(f"{base}/noc/login") as r:
            pre = csrf_of(await r.text())
        async with http.post(f"{base}/noc/login", allow_redirects=False, data={
                "csrf": pre, "username": user, "password": password, "next": "/noc/"}) as r:
            return r.status


async def _cookie_flags(base: str, proto: str) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/noc/login", headers={"X-Forwarded-Proto": proto}) as r:
            return ";".join(r.headers.getall("Set-Cookie", []))


def _run(tmp_path: Path, trusted: str) -> tuple[dict[str, int], str, list[dict[str, Any]]]:
    db = tmp_path / "c.db"
    create_user(db, "operator1", PASSWORD, "operator")
    srv, storage = _serve(db, trusted)
    attacker = "203.0.113.6, 203.0.113.5"  # spoofs .6 on the left; the proxy appended .5
    status: dict[str, int] = {}

    async def go() -> None:
        for i in range(3):
            status[f"fail{i}"] = await _login(srv.url, attacker, "operator1", "wrong-password-x")
        status["attacker"] = await _login(srv.url, attacker, "operator1")
        status["attacker-rotating"] = await _login(srv.url, "198.51.100.1, 203.0.113.5",
                                                   "operator1")
        status["other"] = await _login(srv.url, "203.0.113.6", "operator1")
    try:
        run_async(go())
        cookies = run_async(_cookie_flags(srv.url, "https"))
    finally:
        srv.stop()
        storage.close()
    return status, cookies, NocStore(db).audit_log()


def test_trusted_proxy_limits_and_audits_each_forwarded_client(tmp_path: Path) -> None:
    status, cookies, audit = _run(tmp_path, "127.0.0.1/32")
    assert [status[f"fail{i}"] for i in range(3)] == [401, 401, 401]
    assert status["attacker"] == 429  # 203.0.113.5 is locked out for operator1 ...
    assert status["attacker-rotating"] == 429  # ... whatever it writes on the left
    assert status["other"] == 303  # ... while 203.0.113.6 still logs in
    logins = [(a["ip"], a["ok"]) for a in reversed(audit) if a["action"] == "login"]
    assert logins == [("203.0.113.5", 0)] * 5 + [("203.0.113.6", 1)]
    assert "kt_precsrf=" in cookies and "Secure" in cookies  # X-Forwarded-Proto: https


def test_without_trusted_proxies_forwarded_headers_change_nothing(tmp_path: Path) -> None:
    status, cookies, audit = _run(tmp_path, "")
    assert [status[f"fail{i}"] for i in range(3)] == [401, 401, 401]
    assert status["attacker"] == 429
    assert status["other"] == 429  # everyone shares the proxy's address and its lock-out
    assert {a["ip"] for a in audit if a["action"] == "login"} == {"127.0.0.1"}
    assert "kt_precsrf=" in cookies and "Secure" not in cookies


def test_untrusted_proxy_network_is_ignored(tmp_path: Path) -> None:
    status, _, audit = _run(tmp_path, "10.0.0.0/8")  # the peer 127.0.0.1 is not in it
    assert status["other"] == 429
    assert {a["ip"] for a in audit if a["action"] == "login"} == {"127.0.0.1"}
