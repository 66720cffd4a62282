"""Retention as configured and run by central: [storage] keys, the leader-only background
task, and its counters on /metrics (the deletion itself, on both backends: tests/pg)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from central.api.state import METRICS
from central.assemble import build_app, retention_policy
from central.collector.stats import Stats
from central.config import ConfigError, load_config
from central.metrics.registry import new_registry, render
from central.metrics.retention import RetentionMetrics
from central.storage import Incoming, open_storage
from central.storage.retention import DAY_MS, Retention, RetentionPolicy
from protocol.messages import Tele


def _cfg(tmp_path: Path, storage: str = "") -> Path:
    p = tmp_path / "central.toml"
    p.write_text(f'[storage]\nurl = "sqlite:///{tmp_path}/central.db"\n{storage}')
    return p


def test_defaults_keep_30_days_raw_and_ten_years_of_rollups(tmp_path: Path) -> None:
    pol = retention_policy(load_config(_cfg(tmp_path), env={}))
    assert (pol.raw_days, pol.rollup_days, pol.batch_rows) == (30, 3650, 5000)
    assert (pol.pause_s, pol.interval_s) == (0.05, 3600.0)
    cut = pol.cutoffs(100 * DAY_MS)
    assert cut["samples"] == cut["events"] == cut["drops"] == 70 * DAY_MS
    assert cut["rollup_5m"] == cut["cmd_acks"] == 100 * DAY_MS - 3650 * DAY_MS


@pytest.mark.parametrize(("keys", "needle"), [
    ("raw_retention_days = 40\nrollup_retention_days = 10\n",
     "rollup_retention_days (10) must be 0 (keep forever) or at least raw_retention_days (40)"),
    ("raw_retention_days = 0\n", "rollup_retention_days (3650) must be 0"),
    ("raw_retention_days = -1\n", "storage.raw_retention_days: Input should be greater than"),
    ("raw_retention_days = 'a month'\n", "storage.raw_retention_days"),
    ("retention_batch_rows = 5\n", "storage.retention_batch_rows"),
    ("retention_pause_ms = -1\n", "storage.retention_pause_ms"),
    ("retention_interval_s = 1\n", "storage.retention_interval_s"),
    ("raw_retention = 30\n", "unknown key 'storage.raw_retention'"),
])
def test_bad_retention_config_is_refused(tmp_path: Path, keys: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_cfg(tmp_path, keys), env={})
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_keep_forever_is_accepted(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path, "raw_retention_days = 0\nrollup_retention_days = 0\n"),
                      env={})
    assert retention_policy(cfg).cutoffs(10**13) == {}


def _old_samples(n: int) -> Incoming:
    msg = Tele.model_validate({"site": "s1", "node": "n1", "ts_ms": 1, "session": 1, "seq": 1,
                               "samples": [{"seq": s, "ts_ms": s} for s in range(1, n + 1)]})
    return Incoming("s1", "n1", msg, 1)


def test_the_task_deletes_only_while_leading_and_counts_on_metrics(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path}/central.db")
    try:
        storage.write([_old_samples(30)])
        ret = Retention(storage, RetentionPolicy(raw_days=1, rollup_days=2, batch_rows=10,
                                                 pause_s=0, interval_s=0.01, first_delay_s=0))
        leading = False

        async def drive() -> None:
            task = asyncio.create_task(ret.run(lambda: leading))
            for _ in range(20):  # not the leader: nothing deleted however long it runs
                await asyncio.sleep(0.01)
            assert ret.stats.passes == 0 and storage.totals()["samples"] == 30
            nonlocal leading
            leading = True
            for _ in range(500):  # bounded: until the first pass as leader is done
                if ret.stats.passes:
                    break
                await asyncio.sleep(0.01)
            ret.stop()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

        asyncio.run(drive())
        assert storage.totals()["samples"] == 0
        text = render(new_registry(RetentionMetrics(ret.stats))).decode()
        got = {(s.name, tuple(s.labels.values())): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
        assert got[("kotanet_retention_deleted_rows_total", ("samples",))] == 30
        # the samples of 1970 are past the rollup period too: their one rollup row goes
        assert got[("kotanet_retention_deleted_rows_total", ("rollup_5m",))] == 1
        assert got[("kotanet_retention_passes_total", ())] >= 1
        assert got[("kotanet_retention_errors_total", ())] == 0
        assert got[("kotanet_retention_last_pass_timestamp_seconds", ())] > 0
    finally:
        storage.close()


def test_central_app_serves_the_retention_counters(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path), env={"KOTANET_HTTP": "127.0.0.1:1"})
    storage = open_storage(cfg.storage.url)
    try:
        app = build_app(cfg, storage, Stats(), with_policy=False)
        text = render(app[METRICS]).decode()
        assert 'kotanet_retention_deleted_rows_total{table="samples"} 0.0' in text
        assert "kotanet_retention_passes_total 0.0" in text
    finally:
        storage.close()
