"""The alerts API refuses non-ASCII digits and oversized numbers with 400, never 500."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from central.alerts.api import setup_alerts
from central.api.app import make_app
from central.api.auth import TokenAuth
from central.collector.stats import Stats
from central.config import load_config
from central.storage import open_storage

# '²' and '³' pass str.isdigit(); '٣' (Arabic-Indic three) passes isdecimal() but is not ASCII
BAD_NUMBERS = ["²", "1²", "٣", "１", "9" * 5000, "-1", "1.5", " 7"]


def test_bad_limits_and_ids_get_400_with_a_message(tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    cfg = load_config(None, env={"KOTANET_DB": f"sqlite:///{db}", "KOTANET_HTTP": "127.0.0.1:1"})
    storage = open_storage(cfg.storage.url)
    auth = TokenAuth(storage, None)
    viewer, operator = auth.create("wall", "viewer"), auth.create("ani", "operator")
    app = make_app(cfg, storage, Stats())
    setup_alerts(app, storage, db, interval_s=60.0)

    async def scenario() -> None:
        async with TestClient(TestServer(app)) as client:
            as_viewer = {"Authorization": f"Bearer {viewer}"}
            as_operator = {"Authorization": f"Bearer {operator}"}
            for raw in BAD_NUMBERS:
                r = await client.get("/api/v1/alerts", params={"limit": raw}, headers=as_viewer)
                assert r.status == 400, (raw, r.status)
                assert "limit must be an integer 1..5000" in (await r.json())["error"]
                r = await client.get(f"/api/v1/alerts/{raw}", headers=as_viewer)
                assert r.status == 400, (raw, r.status)
                assert "alert id must be a decimal integer" in (await r.json())["error"]
                r = await client.post(f"/api/v1/alerts/{raw}/ack", headers=as_operator)
                assert r.status == 400, (raw, r.status)
            for raw in ("0", "5001"):
                r = await client.get("/api/v1/alerts", params={"limit": raw}, headers=as_viewer)
                assert r.status == 400
            r = await client.get("/api/v1/alerts", params={"limit": "5000"}, headers=as_viewer)
            assert r.status == 200 and (await r.json()) == {"alerts": []}
            r = await client.get(f"/api/v1/alerts/{2**63}", headers=as_viewer)  # > SQLite's
            assert r.status == 400
            r = await client.get("/api/v1/alerts/424242", headers=as_viewer)
            assert r.status == 404  # well-formed but unknown
            r = await client.post("/api/v1/alerts/424242/ack", headers=as_operator)
            assert r.status == 404
    try:
        asyncio.run(scenario())
    finally:
        storage.close()
