"""Permission matrix: every NOC endpoint as anonymous, viewer, operator and admin."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from noc_helpers import (
    Browserless,
    ServerThread,
    build_app,
    central_cfg,
    fill,
    open_db,
    run_async,
)

from central.noc.store import create_user

ROLES = ("anonymous", "viewer", "operator", "admin")
NODE = "taman-kota-sampit-01"
ADMIN_ONLY = {"anonymous": 303, "viewer": 403, "operator": 403, "admin": 200}
LOGGED_IN = {"anonymous": 303, "viewer": 200, "operator": 200, "admin": 200}
API = {"anonymous": 401, "viewer": 200, "operator": 200, "admin": 200}
# (method, path, form or JSON body, expected status per role); POSTs carry the session's CSRF.
MATRIX: list[tuple[str, str, dict[str, str] | None, dict[str, int]]] = [
    ("GET", "/noc", None, dict.fromkeys(ROLES, 302)),
    ("GET", "/noc/static/noc.css", None, dict.fromkeys(ROLES, 200)),  # public, no secrets
    ("GET", "/noc/", None, LOGGED_IN),
    ("GET", "/noc/login", None, {"anonymous": 200, "viewer": 303, "operator": 303, "admin": 303}),
    ("GET", "/noc/setup", None, dict.fromkeys(ROLES, 303)),
    ("POST", "/noc/setup", {"token": "x", "username": "evil", "password": "x" * 12},
     dict.fromkeys(ROLES, 303)),
    # the anonymous client has the login page's pre-login token, not the (empty) one it sends
    ("POST", "/noc/lang", {"lang": "en", "next": "/noc/"}, {**dict.fromkeys(ROLES, 303),
                                                            "anonymous": 403}),
    ("GET", f"/noc/nodes/{NODE}", None, LOGGED_IN),
    ("GET", "/noc/nodes/no-such-node", None, {**LOGGED_IN, "viewer": 404, "operator": 404,
                                               "admin": 404}),
    ("GET", "/noc/budget", None, LOGGED_IN),
    ("GET", "/noc/budget.csv", None, API),
    ("GET", "/noc/api/fleet", None, API),
    ("GET", f"/noc/api/nodes/{NODE}/series?range=24h", None, API),
    ("GET", f"/noc/api/nodes/{NODE}/cause", None, API),
    ("GET", "/noc/users", None, ADMIN_ONLY),
    ("POST", "/noc/users", {"username": "new-{role}", "password": "long-enough-pw",
                            "role": "viewer"}, ADMIN_ONLY),
    ("POST", "/noc/users/spare", {"role": "viewer", "password": ""}, ADMIN_ONLY),
    ("GET", "/noc/audit", None, ADMIN_ONLY),
    ("GET", "/noc/audit.csv", None, {"anonymous": 401, "viewer": 403, "operator": 403,
                                     "admin": 200}),
    ("GET", "/noc/settings", None, ADMIN_ONLY),
    ("POST", "/noc/settings", {"tile_url": ""}, ADMIN_ONLY),
    ("POST", "/noc/settings/site", {"site": "taman-kota-sampit", "lat": "-2.54", "lon": "112.95",
                                    "capacity_mbps": "100"}, ADMIN_ONLY),
    # central's JSON API through the session bridge (Bearer tokens keep working unchanged)
    ("GET", "/api/v1/nodes", None, API),
    ("GET", f"/api/v1/nodes/{NODE}/samples", None, API),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    """central + NOC on SQLite with a small synthetic fleet and one user per role."""
    db = tmp_path / "central.db"
    storage = open_db(db)
    fill(storage, [(NODE, "taman-kota-sampit"), ("ikon-jelawat-01", "ikon-jelawat")])
    for role in ROLES[1:]:
        create_user(db, role, "correct-horse-battery", role)
    create_user(db, "spare", "correct-horse-battery", "operator")
    srv = ServerThread(build_app(central_cfg(db), storage)).start()
    yield srv
    srv.stop()
    storage.close()


async def _matrix(base: str) -> list[str]:
    clients = {role: Browserless(base) for role in ROLES}
    wrong: list[str] = []
    try:
        for role in ROLES[1:]:
            assert await clients[role].login(role) == 303
        for method, path, body, expected in MATRIX:
            for role in ROLES:
                c = clients[role]
                data = {k: v.format(role=role) for k, v in (body or {}).items()}
                if method == "POST":
                    data["csrf"] = c.csrf
                async with c.http.request(method, base + path, data=data or None,
                                          allow_redirects=False) as r:
                    if r.status != expected[role]:
                        wrong.append(f"{method} {path} as {role}: {r.status}, "
                                     f"expected {expected[role]}")
        # the live WebSocket: refused without a session, open for every role
        for role in ROLES:
            try:
                async with clients[role].http.ws_connect(base + "/noc/ws") as ws:
                    msg = await asyncio.wait_for(ws.receive_json(), 10)
                    ok = msg["type"] == "snapshot" and len(msg["nodes"]) == 2
            except aiohttp.WSServerHandshakeError as exc:
                ok = exc.status == 401 and role == "anonymous"
            else:
                ok = ok and role != "anonymous"
            if not ok:
                wrong.append(f"WS /noc/ws as {role}")
        # commands: viewers are refused before central sees them; operators get through
        for role in ROLES:
            c = clients[role]
            async with c.http.post(f"{base}/api/v1/nodes/{NODE}/commands",
                                   json={"kind": "resync", "params": {}, "ttl_s": 60},
                                   headers={"X-CSRF-Token": c.csrf}) as r:
                refused = r.status in (401, 403)
                if role == "anonymous":  # 401 from central's guard, or 404 until it exists
                    refused = r.status in (401, 403, 404, 405)
                if refused != (role in ("anonymous", "viewer")):
                    wrong.append(f"POST commands as {role}: {r.status}")
        # logging out ends the session
        for role in ROLES[1:]:
            c = clients[role]
            async with c.http.post(base + "/noc/logout", data={"csrf": c.csrf},
                                   allow_redirects=False) as r:
                assert r.status == 303
            async with c.http.get(base + "/noc/api/fleet") as r:
                if r.status != 401:
                    wrong.append(f"after logout {role} still gets {r.status}")
    finally:
        for c in clients.values():
            await c.close()
    return wrong


def test_permission_matrix(server: ServerThread) -> None:
    wrong = run_async(_matrix(server.url))
    assert not wrong, "\n".join(wrong)


async def _no_csrf(base: str) -> list[int]:
    c = Browserless(base)
    try:
        await c.login("admin")
        out = []
        for path, body in (("/noc/users", {"username": "x-user", "password": "long-enough-pw",
                                           "role": "admin"}),
                           ("/noc/settings", {"tile_url": "https://evil.example/{z}/{x}/{y}"}),
                           ("/noc/logout", {})):
            async with c.http.post(base + path, data=body, allow_redirects=False) as r:
                out.append(r.status)
        async with c.http.post(f"{base}/api/v1/nodes/{NODE}/commands",
                               json={"kind": "resync"}) as r:
            out.append(r.status)
        async with c.http.get(base + "/noc/users") as r:  # still logged in, nothing changed
            out.append(r.status)
            assert "x-user" not in await r.text()
        return out
    finally:
        await c.close()


def test_state_changes_without_csrf_token_are_refused(server: ServerThread) -> None:
    statuses = run_async(_no_csrf(server.url))
    assert statuses[:2] == [403, 403]
    assert statuses[2] == 303  # logout without a token does nothing but redirect ...
    assert statuses[3] == 403
    assert statuses[4] == 200  # ... and the session survives it
