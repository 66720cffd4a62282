"""Fixtures for central tests: a fresh prefix, a node simulator and a running collector."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from central_helpers import NodeSim, central_config, unique_prefix, wait_for

from central.collector import Collector
from central.collector.stats import Stats
from central.storage import open_storage
from provisioning.localbroker import LocalBroker


@pytest.fixture
def prefix() -> str:
    """A topic prefix used by this test only."""
    return unique_prefix()


@pytest.fixture
def sim(broker: LocalBroker, prefix: str) -> Iterator[NodeSim]:
    """A plain MQTT 5 client playing nodes under this test's prefix."""
    s = NodeSim(broker, prefix)
    yield s
    s.close()


@pytest.fixture
def start_collector(broker: LocalBroker, prefix: str,
                    tmp_path: Path) -> Iterator[Callable[..., Collector]]:
    """Start collectors on the test broker (one DB file per test); all stopped afterwards."""
    started: list[Collector] = []

    def start(db: str = "central.db", **extra: Any) -> Collector:
        listeners = extra.pop("listeners", [])
        cfg = central_config(broker, str(tmp_path / db), prefix, **extra)
        storage = open_storage(cfg.storage.url)
        col = Collector(cfg, storage, Stats())
        for fn in listeners:
            col.add_listener(fn)
        col.start()
        started.append(col)
        wait_for(col.ready.is_set, 10, "collector subscribed")
        return col

    yield start
    for col in started:
        col.stop()
        col.storage.close()

