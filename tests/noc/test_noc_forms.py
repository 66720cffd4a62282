"""Forms and errors people meet, against a real central + NOC server: Indonesian numbers,
a contract of 0 refused, values kept after an error, login keeps `next`, translated account
errors and roles, errors in the layout in the user's language, and a readable audit log."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

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

from central.noc.i18n import NumberError, parse_num
from central.noc.store import NocStore, create_user

NODE, SITE = "taman-kota-sampit-01", "taman-kota-sampit"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ServerThread, Path]]:
    """central + NOC with one node and an admin account."""
    db = tmp_path / "central.db"
    storage = open_db(db)
    fill(storage, [(NODE, SITE)])
    create_user(db, "admin", "correct-horse-battery", "admin")
    srv = ServerThread(build_app(central_cfg(db), storage)).start()
    yield srv, db
    srv.stop()
    storage.close()


def test_numbers_typed_either_way() -> None:
    assert parse_num("-2,5583") == -2.5583 and parse_num("-2.5583") == -2.5583
    assert parse_num("112,9496") == 112.9496 and parse_num("\u22122,5") == -2.5
    assert parse_num("1.500.000", integer=True) == 1_500_000 == parse_num("Rp 1,500,000", True)
    assert parse_num("1.500", integer=True) == 1500 and parse_num("1.500") == 1.5
    assert parse_num("1.234,5") == 1234.5 == parse_num("1,234.5")
    for bad in ("", "abc", "1,2,3", "--1", "1e5", "inf", "nan", "1.2.3,4,5", ",5"):
        with pytest.raises(NumberError):
            parse_num(bad)
    with pytest.raises(NumberError):
        parse_num("12,5", integer=True)


def _value(html: str, site: str, name: str) -> str:
    row = html.split(f'<tr data-site="{site}"')[1].split("</tr>")[0]
    m = re.search(rf'name="{name}"[^>]*value="([^"]*)"', row)
    assert m, name
    return m.group(1)


async def _post(c: Browserless, path: str, data: dict[str, str]) -> tuple[int, str]:
    async with c.http.post(c.base + path, data={"csrf": c.csrf, **data},
                           allow_redirects=False) as r:
        return r.status, await r.text()


def test_settings_accept_indonesian_numbers_refuse_zero_and_keep_values(
        server: tuple[ServerThread, Path]) -> None:
    srv, db = server

    async def go() -> None:
        c = Browserless(srv.url)
        try:
            c.http.cookie_jar.update_cookies({"kt_lang": "id"})
            assert await c.login("admin") == 303
            status, html = await _post(c, "/noc/settings/site", {
                "site": SITE, "lat": "-2,5583", "lon": "112,9496", "capacity_mbps": "12,5",
                "cost_month": "Rp 7.500.000"})
            assert status == 200 and "Tersimpan." in html
            assert _value(html, SITE, "lat") == "-2,5583" and _value(html, SITE, "cost_month") \
                == "7.500.000" and _value(html, SITE, "capacity_mbps") == "12,5"
            # a contract of 0 Mbit/s is refused, in Indonesian, and every typed value stays
            typed = {"site": SITE, "lat": "-3,1", "lon": "113,2", "capacity_mbps": "0",
                     "cost_month": "900.000"}
            status, html = await _post(c, "/noc/settings/site", typed)
            assert status == 400 and "Kontrak (Mbit/s): harus lebih dari 0" in html
            assert '<html lang="id">' in html and "<nav" in html
            for k in ("lat", "lon", "capacity_mbps", "cost_month"):
                assert _value(html, SITE, k) == typed[k], k
            status, html = await _post(c, "/noc/settings/site", {**typed, "capacity_mbps": "20",
                                                                 "lat": "91"})
            assert status == 400 and "Lintang: harus antara -90 dan 90" in html
            status, html = await _post(c, "/noc/settings/site", {**typed, "capacity_mbps": "20",
                                                                 "cost_month": "1,5"})
            assert status == 400 and "harus bilangan bulat" in html
            # the bad tile URL comes back as typed, with the reason in Indonesian
            status, html = await _post(c, "/noc/settings", {"tile_url": "ftp://x/{z}"})
            assert status == 400 and "URL ubin tidak valid" in html and 'value="ftp://x/{z}"' in html
            # the same refusal in English
            c.http.cookie_jar.update_cookies({"kt_lang": "en"})
            status, html = await _post(c, "/noc/settings/site", {**typed, "lat": "x"})
            assert status == 400 and 'Latitude: &#34;x&#34; is not a number' in html
        finally:
            await c.close()
    run_async(go())
    store = NocStore(db)
    try:
        site = store.sites()[SITE]
    finally:
        store.close()
    assert (site["lat"], site["lon"], site["capacity_mbps"], site["cost_month"]) == (
        -2.5583, 112.9496, 12.5, 7_500_000)  # stored with the contract; refusals stored nothing


def test_login_keeps_next_and_accounts_speak_indonesian(server: tuple[ServerThread, Path]) -> None:
    srv, _ = server

    async def go() -> None:
        c = Browserless(srv.url)
        try:
            c.http.cookie_jar.update_cookies({"kt_lang": "id"})
            async with c.http.get(srv.url + "/noc/budget", allow_redirects=True) as r:
                html = await r.text()
                assert "/noc/login" in str(r.url) and 'value="/noc/budget"' in html
            pre = csrf_of(html)
            async with c.http.post(srv.url + "/noc/login", allow_redirects=False, data={
                    "csrf": pre, "username": "admin", "password": "wrong-password!",
                    "next": "/noc/budget"}) as r:
                html = await r.text()
                assert r.status == 401 and "Nama akun atau kata sandi salah" in html
                assert 'name="next" value="/noc/budget"' in html and 'value="admin"' in html
            async with c.http.post(srv.url + "/noc/login", allow_redirects=False, data={
                    "csrf": pre, "username": "admin", "password": "correct-horse-battery",
                    "next": "/noc/budget"}) as r:
                assert r.status == 303 and r.headers["Location"] == "/noc/budget"
            async with c.http.get(srv.url + "/noc/users") as r:
                html = await r.text()
                c.csrf = csrf_of(html)
            for role, name in (("viewer", "Pemantau"), ("operator", "Operator"),
                               ("admin", "Admin")):
                assert f'<option value="{role}"' in html and f">{name}</option>" in html
            assert "mengirim perintah ke node" in html and "mengelola akun" in html
            status, html = await _post(c, "/noc/users", {"username": "teknisi-1",
                                                         "password": "short", "role": "operator"})
            assert status == 400 and "Kata sandi minimal 10 karakter" in html
            form = html.split('id="add-user"')[1]
            assert 'value="teknisi-1"' in form and '<option value="operator" selected' in form
            status, html = await _post(c, "/noc/users", {"username": "admin",
                                                         "password": "long-enough-1", "role": "viewer"})
            assert status == 400 and "Akun \"admin\" sudah ada" in html.replace("&#34;", '"')
            status, html = await _post(c, "/noc/users/admin", {"role": "viewer"})
            assert status == 400 and "Admin aktif terakhir" in html
            # a bad threshold: the page with the default, the reason and the typed value kept
            async with c.http.get(srv.url + "/noc/budget?threshold=abc") as r:
                html = await r.text()
                assert r.status == 400 and "Ambang &#34;abc&#34; tidak valid" in html
                assert 'id="budget-threshold" inputmode="decimal" size="4" value="abc"' in html
            async with c.http.get(srv.url + "/noc/budget.csv?threshold=0") as r:
                assert r.status == 400
            # errors of pages in the layout, in Indonesian
            for path, words in (("/noc/nodes/tidak-ada", "Node tidak dikenal: tidak-ada"),
                                ("/noc/budget?month=2026-13", "Bulan tidak valid"),
                                ("/noc/audit?from=kemarin", "Tanggal"),
                                ("/noc/tidak-ada", "Halaman tidak ditemukan")):
                async with c.http.get(srv.url + path) as r:
                    html = await r.text()
                    assert r.status in (400, 404) and '<html lang="id">' in html, path
                    assert words in html and "<nav" in html, path
        finally:
            await c.close()
    run_async(go())


def test_audit_log_in_words_with_filter_paging_and_csv(server: tuple[ServerThread, Path]) -> None:
    srv, db = server
    store = NocStore(db)
    try:
        for i in range(60):
            store.audit("operator-1", "10.0.0.9", "command", f"/api/v1/nodes/{NODE}/commands",
                        True, {"status": 201, "kind": "set_throttle", "ttl_s": 120,
                               "params": {"down_kbps": 8000, "up_kbps": 2000 + i}})
        store.audit("admin", "10.0.0.1", "setting.change", f"site:{SITE}", True,
                    {"lat": -2.5, "lon": 112.9, "capacity_mbps": 100, "cost_month": 1500000})
        store.audit("admin", "10.0.0.1", "user.update", "teknisi", True,
                    {"role": "viewer", "disabled": True, "password_changed": False})
    finally:
        store.close()

    async def go() -> tuple[str, str, str, str]:
        c = Browserless(srv.url)
        try:
            c.http.cookie_jar.update_cookies({"kt_lang": "id"})
            assert await c.login("admin") == 303
            pages = []
            for q in ("", "?action=command", "?action=command&page=2",
                      "?actor=admin&action=setting.change&from=2000-01-01&to=2999-12-31"):
                async with c.http.get(srv.url + "/noc/audit" + q) as r:
                    assert r.status == 200
                    pages.append(await r.text())
            async with c.http.get(srv.url + "/noc/audit.csv?action=command") as r:
                assert r.status == 200
                return pages[0], pages[1] + pages[2], pages[3], await r.text()
        finally:
            await c.close()
    first, commands, settings, csv_text = run_async(go())
    assert "Halaman 1 dari 2 (63 catatan)" in first  # 60 commands, 2 changes, 1 login
    assert "Ubah akun" in first and "akun teknisi" in first
    assert "peran Pemantau · dinonaktifkan" in first
    table = first.split('id="audit-table"')[1]
    assert "/api/v1" not in table and "{&#34;" not in table and "user.update" not in table
    assert "Halaman 2 dari 2 (60 catatan)" in commands
    assert f"node {NODE}" in commands and "Perintah ke node" in commands
    assert "Batasi bandwidth · turun 8,0 Mbit/s · naik 2,0 Mbit/s" in commands
    assert "Ubah pengaturan" in settings and "lokasi Taman Kota Sampit" in settings
    assert "Biaya per bulan (Rp) 1.500.000" in settings and "(1 catatan)" in settings
    rows = list(csv.reader(io.StringIO(csv_text), delimiter=";"))
    assert rows[0][:3] == ["Waktu (WIB)", "Siapa", "Tindakan"] and len(rows) == 61
    assert {r[2] for r in rows[1:]} == {"Perintah ke node"}
    assert all(r[1] == "operator-1" for r in rows[1:])
