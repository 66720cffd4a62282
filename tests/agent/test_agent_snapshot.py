"""The running agent publishes its status snapshot (real mosquitto, real Agent, real files):
after samples, receipts and commands; atomically; without secrets; never for simulated
agents; a missing directory never stops the agent."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from agenttest_central import Central, agent_config, wait_for
from conftest import ConstProbe

from agent.fieldtools.snapfile import read_snapshot
from agent.runtime import Agent
from provisioning.localbroker import LocalBroker


def _agent(broker: LocalBroker, node: str, tmp: Path, status: Path,
           interval_s: float = 0.2) -> Agent:
    cfg = agent_config(broker, node, tmp / node, agent={"status_file": str(status),
                                                        "sample_interval_s": interval_s})
    return Agent(cfg, [ConstProbe()])  # not simulated: the snapshot is on


def _snap(path: Path) -> dict[str, Any] | None:
    return read_snapshot(path)


def test_snapshot_follows_samples_receipts_and_commands(
        broker: LocalBroker, central: Central, node_id: str, tmp_path: Path) -> None:
    status = tmp_path / "run" / "status.json"
    status.parent.mkdir()
    agent = _agent(broker, node_id, tmp_path, status)
    central.announce()
    agent.start()
    try:
        snap = wait_for(lambda: (s := _snap(status)) and s["broker"]["connected"]
                        and s["broker"]["centrals_online"] and s["sample_ts_ms"] and s,
                        10, "a snapshot showing the broker connection and a sample")
        assert snap["schema"] == "kotanet.status/1" and snap["node"]["id"] == node_id
        assert snap["node"]["config_hash"] == agent.cfg.config_hash()
        assert snap["users"]["associated"] == 3
        assert snap["broker"]["session"] == agent.session_id >= 1
        assert snap["broker"]["centrals_online"] == [central.instance]
        assert snap["outbox"]["records"] >= 1 and snap["broker"]["last_receipt_ms"] is None
        assert snap["leds"]["text"] == "ok" and snap["leds"]["hardware"] is False
        assert snap["command"] is None and snap["pid"] == os.getpid()

        tele = wait_for(lambda: central.of("tele", node_id), 10, "telemetry")[0]
        central.receipt(node_id, tele.session, [(tele.seq, max(tele.record_seqs()))])
        snap = wait_for(lambda: (s := _snap(status)) and s["broker"]["last_receipt_ms"] and s,
                        10, "the receipt in the snapshot")
        assert snap["broker"]["last_receipt_seq"] == max(tele.record_seqs())

        cid = central.command(node_id, "failback", version=1)  # no failover here: rejected
        snap = wait_for(lambda: (s := _snap(status)) and s["command"] and s, 10, "a command")
        assert snap["command"]["cmd_id"] == cid and snap["command"]["kind"] == "failback"
        assert snap["command"]["stages"] == ["accepted", "rejected"]
        assert snap["command"]["code"] == "unsupported"
        wait_for(lambda: len([a for a in central.of("ack", node_id) if a.cmd_id == cid]) >= 2,
                 10, "both acks at central")
        acks = [a for a in central.of("ack", node_id) if a.cmd_id == cid]
        assert [a.stage for a in acks] == snap["command"]["stages"]
    finally:
        agent.stop()
    raw = status.read_text()
    assert f"pw-{node_id}" not in raw and "password" not in raw  # no secret in the file
    assert oct(status.stat().st_mode & 0o777) == "0o644"
    assert not list(status.parent.glob(".*.tmp")), "no temporary file left behind"


def test_readers_never_see_a_half_written_snapshot(
        broker: LocalBroker, node_id: str, tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    agent = _agent(broker, node_id, tmp_path, status, interval_s=0.02)
    bad: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        for _ in range(100_000):  # bounded
            if stop.is_set():
                return
            try:
                json.loads(status.read_bytes())
            except FileNotFoundError:
                pass
            except ValueError as exc:
                bad.append(str(exc))

    th = threading.Thread(target=reader)
    agent.start()
    th.start()
    try:
        wait_for(lambda: agent.snapshot.writes >= 50, 20, "50 snapshot writes")
    finally:
        stop.set()
        th.join(10)
        agent.stop()
    assert not bad, bad[:3]


def test_no_snapshot_for_simulated_agents_or_when_off(
        broker: LocalBroker, node_id: str, tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    cfg = agent_config(broker, node_id, tmp_path / "s", agent={"status_file": str(status)})
    assert not Agent(cfg, [ConstProbe()], simulated=True).snapshot.enabled
    off = agent_config(broker, node_id, tmp_path / "s", agent={"status_file": ""})
    assert not Agent(off, [ConstProbe()]).snapshot.enabled


def test_a_missing_directory_is_logged_once_and_the_agent_runs_on(
        broker: LocalBroker, central: Central, node_id: str, tmp_path: Path,
        caplog: Any) -> None:
    status = tmp_path / "absent" / "status.json"
    agent = _agent(broker, node_id, tmp_path, status)
    central.announce()
    agent.start()
    try:
        wait_for(lambda: agent.samples_stored >= 5, 10, "five samples stored")
        status.parent.mkdir()  # systemd's RuntimeDirectory appears: writing resumes
        wait_for(lambda: _snap(status), 10, "the snapshot once the directory exists")
    finally:
        agent.stop()
    warnings = [r for r in caplog.records if "status snapshot" in r.getMessage()
                and r.levelname == "WARNING"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
