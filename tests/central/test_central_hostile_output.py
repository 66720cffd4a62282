"""Issue 12: what one node stored can never break the API for everyone (strict JSON, NaN rows
from before the codec refused them), CSV cells are not formulas, database files are private."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import stat
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from central.api.app import make_app
from central.api.jsonout import dumps, sanitize
from central.collector.stats import Stats
from central.commands.store import CommandStore
from central.config import RegistryNode, load_config
from central.noc.budget import csv_cell
from central.storage import Incoming, open_storage
from central.storage.sqlite import SqliteStorage
from protocol.messages import Tele

ADMIN = "admin-secret-token"
NODE = "tk-01"


def strict_loads(text: str) -> Any:
    """A parser that refuses NaN/Infinity, as browsers' JSON.parse does."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


def test_sanitize_turns_every_non_finite_number_into_null() -> None:
    value = {"a": [1.5, float("nan"), {"b": float("inf"), "c": (float("-inf"), 2)}], "d": "NaN"}
    assert sanitize(value) == {"a": [1.5, None, {"b": None, "c": [None, 2]}], "d": "NaN"}
    assert strict_loads(dumps(value)) == sanitize(value)
    deep: Any = 1.0
    for _ in range(200):
        deep = [deep]
    strict_loads(dumps(deep))  # bounded: cut, never a RecursionError


def test_old_rows_with_nan_are_served_as_strict_json(tmp_path: Path) -> None:
    cfg = load_config(None, env={"KOTANET_DB": f"sqlite:///{tmp_path}/api.db",
                                 "KOTANET_ADMIN_TOKEN": ADMIN})
    storage = open_storage(cfg.storage.url)
    assert isinstance(storage, SqliteStorage)
    storage.sync_registry([RegistryNode(node=NODE, site="taman-kota", role="park")])
    samples = [{"seq": s, "ts_ms": 1_000 * s, "users": {"total": s}, "system": {"cpu_pct": 5.0},
                "uplinks": [{"name": "wan", "active": True, "rtt_ms": 20.0, "loss_pct": 1.5}]}
               for s in range(1, 4)]
    tele = Tele.model_validate({"site": "taman-kota", "node": NODE, "ts_ms": 1_000,
                                "session": 1, "seq": 1, "samples": samples})
    storage.write([Incoming("taman-kota", NODE, tele, 5_000)])
    with closing(sqlite3.connect(tmp_path / "api.db")) as db, db:  # as an older central stored
        db.execute("UPDATE samples SET rtt_ms = ?, cpu_pct = ?, data = replace(replace(data, "
                   "'20.0', 'NaN'), '5.0', 'Infinity')", (float("nan"), float("inf")))
    stats = Stats()

    async def go() -> list[str]:
        async with TestClient(TestServer(make_app(cfg, storage, stats))) as client:
            out = []
            for path in ("/api/v1/nodes", f"/api/v1/nodes/{NODE}",
                         f"/api/v1/nodes/{NODE}/samples", "/api/v1/stats"):
                resp = await client.get(path, headers={"Authorization": f"Bearer {ADMIN}"})
                assert resp.status == 200, path
                out.append(await resp.text())
            return out
    try:
        bodies = asyncio.run(go())
    finally:
        storage.close()
    parsed = [strict_loads(b) for b in bodies]
    rows = parsed[2]["samples"]
    assert len(rows) == 3 and all("NaN" not in b and "Infinity" not in b for b in bodies)


@pytest.mark.parametrize(("cell", "out"), [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"), ("+1", "'+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("Taman Kota", "Taman Kota"),
    ("", ""), (-5, -5), (1.5, 1.5), (None, None)])
def test_csv_cells_that_spreadsheets_run_as_formulas_are_neutralised(cell: Any, out: Any) -> None:
    assert csv_cell(cell) == out


def test_central_database_files_are_created_private(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "central.db")
    store = CommandStore(tmp_path / "state.db")
    try:
        storage.sync_registry([RegistryNode(node=NODE, site="taman-kota", role="park")])
        files = [p for p in tmp_path.iterdir() if p.is_file()]
        assert {p.name for p in files} >= {"central.db", "state.db"}
        for p in files:  # the databases and their -wal / -shm files
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
    finally:
        storage.close()
        store.close()
