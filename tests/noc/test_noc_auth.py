"""Login, sessions, first admin, rate limit, cookies, hashes and audit (real server, SQLite)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from noc_helpers import (
    ADMIN_TOKEN,
    PASSWORD,
    Browserless,
    ServerThread,
    build_app,
    central_cfg,
    csrf_of,
    fill,
    open_db,
    run_async,
)

from central.noc.store import NocStore, StoreError, create_user
from central.storage.statedb import open_state


def _serve(db: Path, state: str, **noc: object) -> tuple[ServerThread, object]:
    """The NOC on telemetry in db and its own tables in state (SQLite file or PostgreSQL)."""
    storage = open_db(db)
    fill(storage, [("taman-kota-sampit-01", "taman-kota-sampit")])
    return ServerThread(build_app(central_cfg(db), storage, db_path=state, **noc)).start(), storage


def test_first_admin_comes_from_the_central_admin_token(tmp_path: Path, state_db: str) -> None:
    srv, storage = _serve(tmp_path / "c.db", state_db)

    async def go() -> None:
        c = Browserless(srv.url)
        try:
            async with c.http.get(srv.url + "/noc/") as r:  # no user yet: set-up form
                assert r.url.path == "/noc/setup"
                pre = csrf_of(await r.text())
            form = {"csrf": pre, "username": "kepala-noc", "password": PASSWORD}
            async with c.http.post(srv.url + "/noc/setup", data={**form, "token": "wrong"},
                                   allow_redirects=False) as r:
                assert r.status == 403
            async with c.http.post(srv.url + "/noc/setup", data={**form, "token": ADMIN_TOKEN},
                                   allow_redirects=False) as r:
                assert r.status == 303
            async with c.http.get(srv.url + "/noc/users") as r:  # logged in as the new admin
                assert r.status == 200 and "kepala-noc" in await r.text()
            async with c.http.get(srv.url + "/noc/setup", allow_redirects=False) as r:
                assert r.status == 303  # set-up is closed once a user exists
        finally:
            await c.close()
    try:
        run_async(go())
    finally:
        srv.stop()
        storage.close()  # type: ignore[attr-defined]
    audit = NocStore(state_db).audit_log()
    assert [(a["action"], a["ok"]) for a in reversed(audit)] == [("setup", 0), ("user.create", 1)]


def test_login_rate_limit_cookies_hashes_and_no_secrets_in_logs(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, state_db: str) -> None:
    db = state_db
    create_user(db, "operator1", PASSWORD, "operator")
    create_user(db, "viewer1", PASSWORD, "viewer")
    srv, storage = _serve(tmp_path / "c.db", db, login_max_failures=3)
    caplog.set_level(logging.DEBUG)

    async def go() -> None:
        c = Browserless(srv.url)
        try:
            for _ in range(3):
                assert await c.login("operator1", "wrong-password-x") == 401
            assert await c.login("operator1") == 429  # even the right password now waits
            assert await c.login("viewer1") == 303  # another user from the same IP is fine
        finally:
            await c.close()
        c = Browserless(srv.url)
        try:
            async with c.http.get(srv.url + "/noc/login") as r:
                pre = csrf_of(await r.text())
            async with c.http.post(srv.url + "/noc/login", allow_redirects=False, data={
                    "csrf": pre, "username": "viewer1", "password": PASSWORD}) as r:
                cookie = r.headers["Set-Cookie"]
            assert "kt_session=" in cookie and "HttpOnly" in cookie
            assert "SameSite=Strict" in cookie and "Secure" not in cookie  # plain http here
            async with c.http.post(srv.url + "/noc/login", allow_redirects=False, data={
                    "csrf": "forged", "username": "viewer1", "password": PASSWORD}) as r:
                assert r.status == 403  # login CSRF: the form token must match its cookie
        finally:
            await c.close()
    try:
        run_async(go())
    finally:
        srv.stop()
        storage.close()  # type: ignore[attr-defined]
    con = open_state(db, "noc", ())  # read the tables as they are stored
    try:
        hashes = [r["pw_hash"] for r in con.all("SELECT pw_hash FROM noc_users")]
        sids = [r["sid_sha256"] for r in con.all("SELECT sid_sha256 FROM noc_sessions")]
    finally:
        con.close()
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert sids and all(len(s) == 64 for s in sids)  # only SHA-256 digests of session ids
    assert PASSWORD not in caplog.text and "wrong-password-x" not in caplog.text
    actions = [(a["target"], a["ok"], a["detail"]) for a in NocStore(db).audit_log()
               if a["action"] == "login"]
    assert sum(1 for t, ok, _ in actions if t == "operator1" and not ok) == 4
    assert any("rate limit" in d for _, _, d in actions)


def test_user_rules(state_db: str) -> None:
    store = NocStore(state_db)
    try:
        store.create_user("admin1", PASSWORD, "admin")
        with pytest.raises(StoreError):
            store.create_user("admin1", PASSWORD, "viewer")  # taken
        with pytest.raises(StoreError):
            store.create_user("short", "2short", "viewer")
        with pytest.raises(StoreError):
            store.create_user("bad/name", PASSWORD, "viewer")
        with pytest.raises(StoreError):
            store.create_user("boss", PASSWORD, "root")
        assert store.admins_left("admin1") == 0  # the page refuses to demote the last admin
        store.add_session("sid-1", "admin1", "csrf-1")
        assert store.session("sid-1", 60_000) is not None
        store.update_user("admin1", role="operator")  # a change ends the user's sessions
        assert store.session("sid-1", 60_000) is None
    finally:
        store.close()


def test_cookies_are_secure_when_configured(tmp_path: Path) -> None:
    srv, storage = _serve(tmp_path / "c.db", str(tmp_path / "c.db"), secure_cookies=True)

    async def go() -> str:
        c = Browserless(srv.url)
        try:
            async with c.http.get(srv.url + "/noc/setup") as r:
                return r.headers["Set-Cookie"]
        finally:
            await c.close()
    try:
        cookie = run_async(go())
    finally:
        srv.stop()
        storage.close()  # type: ignore[attr-defined]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_create_user_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    from central.noc.__main__ import main

    db = tmp_path / "c.db"
    monkeypatch.setenv("KOTANET_NOC_PASSWORD", PASSWORD)
    assert main(["create-user", "kepala", "--role", "operator", "--db", f"sqlite:///{db}"]) == 0
    assert main(["create-user", "kepala", "--db", str(db)]) == 1  # exists
    assert PASSWORD not in capsys.readouterr().out
    store = NocStore(db)
    try:
        assert [(u.username, u.role) for u in store.users()] == [("kepala", "operator")]
    finally:
        store.close()
