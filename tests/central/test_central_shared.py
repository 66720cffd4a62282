"""Two collectors share the load; one is killed with messages in flight; nothing is lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from central_helpers import NodeSim, wait_for

from central.collector import Collector
from provisioning.localbroker import LocalBroker, free_port

pytestmark = pytest.mark.broker

BATCHES = 40
PER_BATCH = 3


def _spawn_collector(broker: LocalBroker, cfg: Path, db: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KOTANET_MQTT_URL": broker.url("kt-test"),
           "KOTANET_DB": f"sqlite:///{db}", "KOTANET_HTTP": f"127.0.0.1:{free_port()}"}
    return subprocess.Popen([sys.executable, "-m", "central.cli", "--config", str(cfg)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _settled(sim: NodeSim, node: str, timeout_s: float) -> set[int]:
    """Wait until receipts stop growing for a second (bounded); return the acked seqs."""
    deadline = time.monotonic() + timeout_s
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = len(sim.acked(node))
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > 1.0:
            break
        time.sleep(0.05)
    return sim.acked(node)


def test_killed_collector_loses_nothing_after_resend(
        broker: LocalBroker, prefix: str, tmp_path: Path, sim: NodeSim,
        start_collector: Callable[..., Collector]) -> None:
    db = tmp_path / "shared.db"
    col_a = start_collector(db="shared.db", instance="col-a")
    cfg = tmp_path / "b.toml"
    cfg.write_text(f'instance = "col-b"\ntopic_prefix = "{prefix}"\n')
    sim.watch(sim.topics.central_state("col-b"))
    proc = _spawn_collector(broker, cfg, db)
    try:
        wait_for(lambda: sim.central_online("col-b"), 20, "collector B online")
        proc.send_signal(signal.SIGSTOP)  # B keeps its share of messages but handles none
        batches = [list(range(1 + i * PER_BATCH, 1 + (i + 1) * PER_BATCH))
                   for i in range(BATCHES)]
        for seqs in batches:
            sim.tele("s1", "n1", seqs, session=1)
        first_pass = _settled(sim, "n1", 20)
        proc.kill()  # SIGKILL: everything B held in flight is gone
        proc.wait(timeout=10)
        wait_for(lambda: sim.central_online("col-b") is False, 10, "B's Will")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    everything = set(range(1, BATCHES * PER_BATCH + 1))
    assert first_pass and first_pass != everything  # B really took (and lost) a share
    for _ in range(5):  # the agent's rule: re-send every batch without a receipt
        for seqs in batches:
            if not set(seqs) <= sim.acked("n1"):
                sim.tele("s1", "n1", seqs, session=1)
        try:
            wait_for(lambda: sim.acked("n1") == everything, 5, "receipts after resend")
            break
        except AssertionError:
            continue
    assert sim.acked("n1") == everything
    with sqlite3.connect(db) as c:
        rows = [r[0] for r in c.execute("SELECT seq FROM samples WHERE node = 'n1' ORDER BY 1")]
    assert rows == sorted(everything)
    assert col_a.storage.gaps(2**62, 0, "n1") == []
