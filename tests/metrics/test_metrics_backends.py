"""The fleet figures are the same on SQLite and PostgreSQL (each backend returns the stored
sample JSON its own way: text or a decoded document)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from typing import Any

from metrics_fixture import fill_fleet
from prometheus_client.parser import text_string_to_metric_families

from central.metrics.fleet import FleetMetrics
from central.metrics.registry import new_registry, render
from central.storage.base import Storage
from central.storage.postgres import PostgresStorage
from central.storage.sqlite import SqliteStorage


def fleet_series(storage: Storage, now: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The per-node and node-total series the fleet collector exports from storage."""
    fill_fleet(storage, now)
    text = render(new_registry(FleetMetrics(storage, lambda: {}))).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_fleet_metrics_identical_on_sqlite_and_postgres(tmp_path: Path, pg_cluster: Any) -> None:
    now = 1_800_000_000_000
    lite = SqliteStorage(tmp_path / "central.db")
    pg = PostgresStorage(pg_cluster.new_database())
    try:
        on_sqlite, on_pg = fleet_series(lite, now), fleet_series(pg, now)
    finally:
        lite.close()
        pg.close()
    rtt = ("kotanet_node_uplink_rtt_seconds",
           (("node", "tk-01"), ("site", "taman-kota"), ("uplink", "fibre")))
    assert on_sqlite[rtt] == 0.018
    assert len([k for k in on_sqlite if k[0].startswith("kotanet_node_uplink_")]) == 16
    assert on_pg == on_sqlite
