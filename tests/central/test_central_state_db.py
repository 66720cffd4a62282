"""PostgreSQL storage: the state tables (commands, lease, alerts, NOC) follow KOTANET_STATE_DB.

Set to sqlite:///..., a real central on a real PostgreSQL keeps its state tables in that file;
unset, they go to the same PostgreSQL database. A wrong scheme exits 2 with one clear line.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from central_helpers import NodeSim, unique_prefix, wait_for

from provisioning.localbroker import LocalBroker, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pg"))
from pg_cluster import PgCluster, PgClusterError

CLI = [sys.executable, "-m", "central.cli"]
TOKEN = "state-db-admin-token"
PG_URL = "postgresql://kotanet:never-used@127.0.0.1:1/kotanet"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("KOTANET_")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60,
                          env={**base, **env})


def test_unreachable_postgresql_exits_2_with_one_line_and_no_password() -> None:
    out = _run(KOTANET_DB=PG_URL)
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1, out.stderr
    assert "Traceback" not in out.stderr and "never-used" not in out.stderr


def test_state_db_must_be_sqlite_or_postgresql(tmp_path: Path) -> None:
    out = _run("--check", KOTANET_DB=PG_URL, KOTANET_STATE_DB="mysql://u:never-used@h/db")
    assert out.returncode == 2 and len(out.stderr.splitlines()) == 1
    assert "storage.state_url" in out.stderr and "never-used" not in out.stderr
    for state in (f"sqlite:///{tmp_path}/s.db", PG_URL, ""):
        out = _run("--check", KOTANET_DB=PG_URL, KOTANET_STATE_DB=state)
        assert out.returncode == 0, out.stderr


@pytest.fixture(scope="module")
def pg() -> Iterator[PgCluster]:
    """A real PostgreSQL (tests/pg/pg_cluster.py)."""
    try:
        cluster = PgCluster()
        cluster.start()
    except (PgClusterError, KeyError, OSError) as exc:
        pytest.fail(f"cannot start a test PostgreSQL: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


def _call(url: str, body: dict[str, object] | None = None) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None,
                                 headers={"Authorization": f"Bearer {TOKEN}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status, json.loads(resp.read())


@pytest.mark.broker
@pytest.mark.parametrize("state_in", ["sqlite", "postgresql"])
def test_central_on_postgresql_keeps_state_where_configured(
        pg: PgCluster, broker: LocalBroker, tmp_path: Path, state_in: str) -> None:
    state = tmp_path / "state.db"
    db_url = pg.new_database()
    state_env = {"KOTANET_STATE_DB": f"sqlite:///{state}"} if state_in == "sqlite" else {}
    port = free_port()
    cfg = tmp_path / "central.toml"
    # its own topic prefix: retained states of other tests' nodes on the shared broker stay out
    prefix = unique_prefix()
    cfg.write_text(f'instance = "state-db-central"\ntopic_prefix = "{prefix}"\n'
                   '[[nodes]]\nnode = "sdb-node-1"\nsite = "taman-kota"\nrole = "park"\n')
    proc = subprocess.Popen(
        [*CLI, "--config", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "KOTANET_DB": db_url, **state_env,
             "KOTANET_MQTT_URL": broker.url("kt-test"), "KOTANET_HTTP": f"127.0.0.1:{port}",
             "KOTANET_ADMIN_TOKEN": TOKEN, "KOTANET_NOC_DB": ""})
    base = f"http://127.0.0.1:{port}"
    try:
        def nodes() -> object:
            try:
                return _call(f"{base}/api/v1/nodes")[1]["nodes"]
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                return None
        assert [n["node"] for n in wait_for(nodes, 30, "central API up")] == ["sdb-node-1"]
        status, cmd = _call(f"{base}/api/v1/nodes/sdb-node-1/commands",
                            {"kind": "resync", "params": {}, "ttl_s": 60})
        assert status == 202
        if state_in == "sqlite":
            with sqlite3.connect(state) as db:
                ids = [r[0] for r in db.execute("SELECT cmd_id FROM commands")]
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        else:
            assert not state.exists()
            with psycopg.connect(db_url) as pgc:
                ids = [r[0] for r in pgc.execute("SELECT cmd_id FROM commands")]
                tables = {r[0] for r in pgc.execute(
                    "SELECT table_name FROM information_schema.tables")}
        assert ids == [cmd["cmd_id"]]
        assert {"leader_lease", "alerts", "noc_users", "noc_settings"} <= tables
    finally:
        proc.terminate()
        rc = proc.wait(timeout=20)
        err = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        admin = NodeSim(broker, prefix)  # clear the retained state for other tests
        admin.publish_raw(admin.topics.central_state("state-db-central"), b"", retain=True)
        admin.close()
    assert rc == 0, err
    assert "Traceback" not in err
