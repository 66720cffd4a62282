"""Two collectors on one broker and one PostgreSQL database: receipts only for stored records."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "central"))
from central_helpers import NodeSim, central_config, unique_prefix, wait_for

from central.collector import Collector
from central.collector.stats import Stats
from central.storage.postgres import PostgresStorage
from provisioning.localbroker import LocalBroker

pytestmark = pytest.mark.broker


def test_two_collectors_share_the_load_into_one_database(broker: LocalBroker, pg_url: str,
                                                         tmp_path: Path) -> None:
    prefix = unique_prefix()
    sim = NodeSim(broker, prefix)
    collectors: list[Collector] = []
    try:
        for name in ("col-a", "col-b"):
            cfg = central_config(broker, str(tmp_path / "unused.db"), prefix, instance=name)
            col = Collector(cfg, PostgresStorage(pg_url), Stats())
            col.start()
            collectors.append(col)
            wait_for(col.ready.is_set, 10, f"{name} subscribed")
        sim.birth("taman", "pk-01", 1)
        sim.birth("sopd", "of-01", 4)
        batches = [[3 * i + 1, 3 * i + 2, 3 * i + 3] for i in range(20)]
        for i, seqs in enumerate(batches):  # plus re-sends of older, unreceipted batches
            sim.tele("taman", "pk-01", seqs, events=1)
            sim.tele("taman", "pk-01", batches[i // 2], events=1)
            sim.tele("sopd", "of-01", [i + 1], session=4)
        want = set(range(1, 61))
        wait_for(lambda: sim.acked("pk-01") == want and len(sim.acked("of-01")) == 20, 20,
                 "receipts for every record")
        db = collectors[0].storage
        nodes = {n["node"]: n for n in db.list_nodes()}
        assert (nodes["pk-01"]["online"], nodes["of-01"]["session"]) == (1, 4)
        detail = db.node_detail("pk-01", 0, 0)
        assert detail is not None
        assert (detail["records"]["samples"], detail["records"]["events"]) == (40, 20)
        assert detail["records"]["max_seq"] == 60 and detail["gaps"]["count"] == 0
        assert db.totals()["samples"] == 40 + 20  # pk-01 and of-01
        snaps = [c.stats.snapshot() for c in collectors]
        assert all(s["receipts"] > 0 and s["write_errors"] == 0 for s in snaps)  # both wrote
    finally:
        for col in collectors:
            col.stop()
            col.storage.close()
        sim.close()
