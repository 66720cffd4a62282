"""Admin settings input (tile URL, site coordinates) and the language switch's CSRF check,
against a real central + NOC server on SQLite."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from noc_helpers import (
    Browserless,
    ServerThread,
    build_app,
    central_cfg,
    csrf_of,
    fill,
    open_db,
    run_async,
)

from central.noc.security import CSP
from central.noc.store import NocStore, create_user

NODE, SITE = "taman-kota-sampit-01", "taman-kota-sampit"
CSP_INJECTION = "https://x; script-src * 'unsafe-inline'"
NEWLINE = "https://tiles.example/{z}/{x}/{y}.png\nX-Evil: 1"


def _serve(db: Path) -> tuple[ServerThread, Any]:
    storage = open_db(db)
    fill(storage, [(NODE, SITE)])
    create_user(db, "admin", "correct-horse-battery", "admin")
    app = build_app(central_cfg(db), storage, slow_refresh_s=0.0)  # site edits show at once
    return ServerThread(app).start(), storage


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    """central + NOC with one node and an admin account."""
    srv, storage = _serve(tmp_path / "central.db")
    yield srv
    srv.stop()
    storage.close()


def _strict_json(text: str) -> Any:
    """json.loads that refuses NaN/Infinity (as browsers' JSON.parse does)."""
    def refuse(const: str) -> Any:
        raise ValueError(f"not JSON: {const}")
    return json.loads(text, parse_constant=refuse)


async def _boot(c: Browserless, base: str) -> Any:
    """The fleet page's inline boot data (tile URL, fleet snapshot), parsed strictly."""
    async with c.http.get(base + "/noc/") as r:
        assert r.status == 200
        html = await r.text()
    return _strict_json(html.split('<script type="application/json" id="boot">')[1]
                        .split("</script>")[0])


async def _pages_ok(c: Browserless, base: str) -> list[tuple[str, int, str]]:
    out = []
    for path in ("/noc/", "/noc/settings", "/noc/budget", f"/noc/nodes/{NODE}"):
        async with c.http.get(base + path) as r:
            out.append((path, r.status, r.headers.get("Content-Security-Policy", "")))
    return out


def test_tile_url_injection_refused_by_the_settings_form(server: ServerThread) -> None:
    async def go() -> None:
        c = Browserless(server.url)
        try:
            assert await c.login("admin") == 303
            for bad in (CSP_INJECTION, NEWLINE, "javascript:alert(1)", "https://u@evil.example/",
                        'https://x"/{z}', "https://ex ample/{z}"):
                async with c.http.post(server.url + "/noc/settings",
                                       data={"csrf": c.csrf, "tile_url": bad}) as r:
                    assert r.status == 400, (bad, r.status)
            for path, status, csp in await _pages_ok(c, server.url):
                assert status == 200, path
                assert csp == CSP.format(tiles="")  # nothing injected
            good = "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"
            async with c.http.post(server.url + "/noc/settings",
                                   data={"csrf": c.csrf, "tile_url": good}) as r:
                assert r.status == 200
            async with c.http.get(server.url + "/noc/") as r:
                csp = r.headers["Content-Security-Policy"]
            assert "img-src 'self' data: https://*.tile.openstreetmap.org;" in csp
            assert (await _boot(c, server.url))["tile_url"] == good
        finally:
            await c.close()
    run_async(go())


@pytest.mark.parametrize("planted", [CSP_INJECTION, NEWLINE])
def test_bad_tile_url_stored_in_the_db_is_ignored(
        tmp_path: Path, planted: str, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "central.db"
    store = NocStore(db)
    store.set_setting("tile_url", planted)  # e.g. saved by an older version
    store.close()
    caplog.set_level(logging.WARNING, logger="central.noc")
    srv, storage = _serve(db)

    async def go() -> None:
        c = Browserless(srv.url)
        try:
            async with c.http.get(srv.url + "/noc/login") as r:
                assert r.status == 200
            assert await c.login("admin") == 303
            for path, status, csp in await _pages_ok(c, srv.url):
                assert status == 200, path
                assert csp == CSP.format(tiles="")  # the bad value is not in the header
            assert (await _boot(c, srv.url))["tile_url"] == ""
        finally:
            await c.close()
    try:
        run_async(go())
    finally:
        srv.stop()
        storage.close()
    assert "ignoring the stored tile_url" in caplog.text


def test_site_coordinates_must_be_finite_and_in_range(server: ServerThread) -> None:
    async def go() -> None:
        c = Browserless(server.url)
        try:
            assert await c.login("admin") == 303
            good = {"site": SITE, "lat": "-2.54", "lon": "112.95", "capacity_mbps": "100"}
            for field, value in (("lat", "inf"), ("lat", "nan"), ("lat", "-Infinity"),
                                 ("lat", "90.5"), ("lon", "NaN"), ("lon", "-181"),
                                 ("lon", "1e400"), ("capacity_mbps", "inf"),
                                 ("capacity_mbps", "-1"), ("lat", "abc")):
                async with c.http.post(server.url + "/noc/settings/site", data={
                        **good, field: value, "csrf": c.csrf}) as r:
                    assert r.status == 400, (field, value, r.status)
                    assert field in await r.text()
            async with c.http.get(server.url + "/noc/api/fleet") as r:
                _strict_json(await r.text())  # nothing bad was stored
            async with c.http.post(server.url + "/noc/settings/site",
                                   data={**good, "lat": "-90", "lon": "180", "csrf": c.csrf}) as r:
                assert r.status == 200
            for _ in range(50):  # the live view caches for one poll interval (0.5 s)
                boot = await _boot(c, server.url)
                site = [s for s in boot["fleet"]["sites"] if s["site"] == SITE]
                if site and (site[0]["lat"], site[0]["lon"]) == (-90, 180):
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"site not updated: {site}")
        finally:
            await c.close()
    run_async(go())


def test_language_switch_needs_the_csrf_token(server: ServerThread) -> None:
    async def go() -> None:
        c = Browserless(server.url)
        try:
            # anonymous: the login page's switch form carries the pre-login double-submit token
            async with c.http.get(server.url + "/noc/login") as r:
                pre = csrf_of(await r.text())
            for token in ("", "forged"):
                async with c.http.post(server.url + "/noc/lang", allow_redirects=False,
                                       data={"lang": "en", "next": "/noc/", "csrf": token}) as r:
                    assert r.status == 403 and "kt_lang" not in r.cookies
            async with c.http.post(server.url + "/noc/lang", allow_redirects=False,
                                   data={"lang": "en", "next": "/noc/login", "csrf": pre}) as r:
                assert r.status == 303 and r.cookies["kt_lang"].value == "en"
            # logged in: the session's token; a cross-site form without it changes nothing
            assert await c.login("admin") == 303
            async with c.http.post(server.url + "/noc/lang", allow_redirects=False,
                                   data={"lang": "id", "next": "/noc/", "csrf": pre}) as r:
                assert r.status == 403 and "kt_lang" not in r.cookies
            async with c.http.get(server.url + "/noc/") as r:
                assert '<html lang="en"' in await r.text()
            async with c.http.post(server.url + "/noc/lang", allow_redirects=False,
                                   data={"lang": "id", "next": "/noc/", "csrf": c.csrf}) as r:
                assert r.status == 303 and r.cookies["kt_lang"].value == "id"
            async with c.http.get(server.url + "/noc/") as r:
                assert '<html lang="id"' in await r.text()
        finally:
            await c.close()
    run_async(go())
