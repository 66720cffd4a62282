"""The JSON API and /metrics over HTTP (aiohttp test server, SQLite storage, no broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from central.api.app import make_app
from central.api.auth import TokenAuth
from central.collector.stats import Stats
from central.config import RegistryNode, load_config
from central.storage import Incoming, open_storage
from central.storage.sqlite import SqliteStorage
from protocol.messages import Birth, Tele

ADMIN = "admin-secret-token"


def _fill(storage: SqliteStorage) -> None:
    storage.sync_registry([RegistryNode(node="tk-01", site="taman-kota", role="park")])
    env = {"site": "taman-kota", "node": "tk-01", "ts_ms": 1_000}
    birth = Birth.model_validate({**env, "session": 2, "boot_id": "b", "agent_version": "1.0",
                                  "config_hash": "h", "role": "park",
                                  "clock": {"synced": True, "wall_ms": 1}})
    samples = [{"seq": s, "ts_ms": 1_000 * s, "users": {"total": s},
                "uplinks": [{"name": "wan", "active": True, "rtt_ms": 20.0, "loss_pct": 1.5}],
                "shaping": {"version": 3, "down_kbps": 4000}} for s in range(1, 6)]
    tele = Tele.model_validate({**env, "session": 2, "seq": 1, "samples": samples})
    storage.write([Incoming("taman-kota", "tk-01", birth, 5_000),
                   Incoming("taman-kota", "tk-01", tele, 5_500)])


def _run(tmp_path: Path, body: Callable[[TestClient[Any, Any], SqliteStorage],
                                          Awaitable[None]]) -> None:
    cfg = load_config(None, env={"KOTANET_DB": f"sqlite:///{tmp_path}/api.db",
                                 "KOTANET_ADMIN_TOKEN": ADMIN})
    storage = open_storage(cfg.storage.url)
    assert isinstance(storage, SqliteStorage)
    _fill(storage)
    stats = Stats()
    stats.reject("malformed", "tk-01", "test")
    stats.message("tele")

    async def go() -> None:
        async with TestClient(TestServer(make_app(cfg, storage, stats))) as client:
            await body(client, storage)
    try:
        asyncio.run(go())
    finally:
        storage.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_api_needs_a_valid_token(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any], storage: SqliteStorage) -> None:
        assert (await client.get("/healthz")).status == 200
        resp = await client.get("/api/v1/nodes")
        assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
        assert (await client.get("/api/v1/nodes", headers=_auth("wrong"))).status == 401
        assert (await client.get("/api/v1/stats", headers={"Authorization": ADMIN})).status == 401
        assert (await client.get("/api/v1/nodes", headers=_auth(ADMIN))).status == 200
        viewer = TokenAuth(storage, None).create("noc-screen", "viewer")
        assert (await client.get("/api/v1/nodes/tk-01", headers=_auth(viewer))).status == 200
    _run(tmp_path, body)


def test_nodes_list_and_detail(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any], _s: SqliteStorage) -> None:
        nodes = (await (await client.get("/api/v1/nodes", headers=_auth(ADMIN))).json())["nodes"]
        assert len(nodes) == 1
        n = nodes[0]
        assert (n["node"], n["site"], n["online"], n["unregistered"]) == ("tk-01", "taman-kota",
                                                                           True, False)
        assert (n["active_uplink"], n["users"], n["rtt_ms"], n["loss_pct"]) == ("wan", 5, 20.0,
                                                                               1.5)
        assert n["throttle"] == {"version": 3, "down_kbps": 4000, "up_kbps": None}
        assert n["last_seen_ms"] == 5_500 and n["delivery_lag_ms"] == 500
        d = await (await client.get("/api/v1/nodes/tk-01", headers=_auth(ADMIN))).json()
        assert d["birth"]["agent_version"] == "1.0" and d["last_sample"]["seq"] == 5
        assert d["records"]["samples"] == 5 and d["gaps"]["count"] == 0
        assert (await client.get("/api/v1/nodes/nope", headers=_auth(ADMIN))).status == 404
    _run(tmp_path, body)


def test_samples_window_and_bad_params(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any], _s: SqliteStorage) -> None:
        url = "/api/v1/nodes/tk-01/samples"
        resp = await client.get(url, params={"since_ms": "2000", "until_ms": "4000"},
                                headers=_auth(ADMIN))
        assert [s["seq"] for s in (await resp.json())["samples"]] == [2, 3]
        resp = await client.get(url, params={"limit": "2"}, headers=_auth(ADMIN))
        assert [s["seq"] for s in (await resp.json())["samples"]] == [1, 2]
        for bad in ({"since_ms": "abc"}, {"limit": "0"}, {"limit": "100000"},
                    {"since_ms": "-5"}, {"since_ms": "10", "until_ms": "5"}):
            resp = await client.get(url, params=bad, headers=_auth(ADMIN))
            assert resp.status == 400, bad
            assert "error" in await resp.json()
    _run(tmp_path, body)


def test_metrics_and_stats(tmp_path: Path) -> None:
    async def body(client: TestClient[Any, Any], _s: SqliteStorage) -> None:
        text = await (await client.get("/metrics")).text()
        assert 'kotanet_central_rejects_total{reason="malformed"} 1' in text
        assert 'kotanet_central_messages_total{kind="tele"} 1' in text
        assert 'kotanet_central_nodes{state="online"} 1' in text
        assert "kotanet_central_write_batch_size_count 0" in text
        stats = await (await client.get("/api/v1/stats", headers=_auth(ADMIN))).json()
        assert stats["collector"]["rejects"] == {"malformed": 1}
        assert stats["storage"]["samples"] == 5
    _run(tmp_path, body)
