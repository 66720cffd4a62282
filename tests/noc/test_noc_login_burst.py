"""Issue 12: a burst of wrong passwords cannot check more than the limit, cannot lock out other
users behind the same address, and leaves a handful of audit rows, not one per attempt."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
from noc_helpers import ADMIN_TOKEN, PASSWORD, ServerThread, csrf_of, fill, open_db, run_async

from central.api.app import make_app
from central.api.client_addr import TRUSTED_PROXIES, trusted_networks
from central.collector.stats import Stats
from central.config import load_config
from central.noc import NocSettings, setup_noc
from central.noc.context import NOC
from central.noc.login_guard import AUDITED_REFUSALS, LoginGuard
from central.noc.store import NocStore, create_user

LIMIT = 5
BURST = 30
ATTACKER, OTHER = "203.0.113.5", "198.51.100.7"


def _serve(db: Path) -> tuple[ServerThread, Any]:
    cfg = load_config(None, env={"KOTANET_DB": f"sqlite:///{db}", "KOTANET_HTTP": "127.0.0.1:1",
                                 "KOTANET_ADMIN_TOKEN": ADMIN_TOKEN,
                                 "KOTANET_TRUSTED_PROXIES": "127.0.0.1/32"})
    storage = open_db(db)
    fill(storage, [("taman-kota-sampit-01", "taman-kota-sampit")])
    app = make_app(cfg, storage, Stats())
    app[TRUSTED_PROXIES] = trusted_networks(cfg.http.trusted_proxies)
    setup_noc(app, NocSettings(login_max_failures=LIMIT))
    return ServerThread(app).start(), storage


async def _form(base: str, xff: str) -> tuple[aiohttp.ClientSession, str]:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 headers={"X-Forwarded-For": xff})
    async with http.get(f"{base}/noc/login") as r:
        return http, csrf_of(await r.text())


async def _post(http: aiohttp.ClientSession, base: str, pre: str, user: str, pw: str) -> int:
    async with http.post(f"{base}/noc/login", allow_redirects=False, data={
            "csrf": pre, "username": user, "password": pw, "next": "/noc/"}) as r:
        return r.status


async def _login(base: str, xff: str, user: str, pw: str = PASSWORD) -> int:
    http, pre = await _form(base, xff)
    try:
        return await _post(http, base, pre, user, pw)
    finally:
        await http.close()


def test_concurrent_wrong_passwords_check_at_most_the_limit(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    for user in ("operator1", "viewer1", "viewer2"):
        create_user(db, user, PASSWORD, "viewer")
    srv, storage = _serve(db)
    guard: LoginGuard = srv.app[NOC].extra["limiter"]
    statuses: list[int] = []

    async def go() -> dict[str, int]:
        forms = [await _form(srv.url, ATTACKER) for _ in range(BURST)]  # all ready, then at once
        try:
            statuses.extend(await asyncio.gather(*(
                _post(http, srv.url, pre, "operator1", f"wrong-{i}")
                for i, (http, pre) in enumerate(forms))))
        finally:
            for http, _ in forms:
                await http.close()
        return {"other_addr": await _login(srv.url, OTHER, "viewer1"),
                "same_nat": await _login(srv.url, ATTACKER, "viewer2"),
                "victim_elsewhere": await _login(srv.url, OTHER, "operator1"),
                "attacker_right_pw": await _login(srv.url, ATTACKER, "operator1")}
    try:
        after = run_async(go())
    finally:
        srv.stop()
        storage.close()
    checked = guard.counters()["verifications"]
    # 5 wrong passwords checked (401), the other 25 refused before any argon2 work (429)
    assert sorted(statuses) == [401] * LIMIT + [429] * (BURST - LIMIT)
    assert checked - 3 == LIMIT  # + the three correct logins below, nothing else
    assert after == {"other_addr": 303, "same_nat": 303, "victim_elsewhere": 303,
                     "attacker_right_pw": 429}
    rows = [a for a in NocStore(db).audit_log() if a["action"] == "login"]
    refused = [a for a in rows if "rate limit" in a["detail"]]
    assert len(refused) == AUDITED_REFUSALS  # 26 refusals: a few rows, the rest summarised
    assert len([a for a in rows if not a["ok"]]) == LIMIT + AUDITED_REFUSALS



def test_password_checks_are_metered() -> None:
    """Beyond checks_burst, checks start at most checks_per_s: the hasher waits for the meter
    (a login is delayed, never refused by it), the API never does."""
    now, slept = [100.0], []

    def sleep(s: float) -> None:
        slept.append(round(s, 3))
        now[0] += s

    guard = LoginGuard(LIMIT, 300.0, clock=lambda: now[0], checks_per_s=2.0, checks_burst=3,
                       sleep=sleep)
    try:
        check = guard.verify(lambda: False)
        assert [check() for _ in range(5)] == [False] * 5
        assert slept == [0.5, 0.5]  # three at once, then one per half second
        now[0] += 10.0  # a calm spell refills the burst (never beyond it)
        for _ in range(4):
            check()
        assert slept == [0.5, 0.5, 0.5]
        assert guard.counters()["verifications"] == 9
    finally:
        guard.close()
