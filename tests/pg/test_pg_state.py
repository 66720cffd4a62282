"""Central's state tables (commands, lease, alerts, incidents, outbox, NOC) on both backends.

``state_db`` (tests/conftest.py) is a SQLite file or a new database on a real PostgreSQL; every
store opens it through central.storage.statedb with its migrations applied.
"""

from __future__ import annotations

import threading

import pytest
from pg_cluster import PgCluster

from central.alerts.model import Opened
from central.alerts.store import AlertStore
from central.commands.leader import LeaderLease
from central.commands.store import CommandStore, CommandStoreError
from central.noc.store import NocStore, StoreError
from central.notify.outbox import OutboxStore
from central.storage.statedb import applied, open_state, pg_sql


def _cmd(node: str, cmd_id: str) -> dict[str, object]:
    return {"cmd_id": cmd_id, "node": node, "site": "s1", "kind": "set_throttle", "epoch": None,
            "params": {"down_kbps": 1000}, "issued_at_ms": 1, "expires_at_ms": 10**13,
            "origin": "test", "issued_by": "t"}


def test_migrations_are_recorded_once_and_a_new_entry_is_applied_later(state_db: str) -> None:
    CommandStore(state_db).close()
    CommandStore(state_db).close()  # a second start applies nothing again
    db = open_state(state_db, "noc", ("CREATE TABLE IF NOT EXISTS t1 (k TEXT PRIMARY KEY)",))
    db.close()
    db = open_state(state_db, "noc", ("CREATE TABLE IF NOT EXISTS t1 (k TEXT PRIMARY KEY)",
                                      "ALTER TABLE t1 ADD COLUMN cost REAL"))
    try:
        rows = [(r["feature"], r["version"]) for r in applied(db)]
        assert rows == [("commands", 1), ("noc", 1), ("noc", 2)]
        db.execute("INSERT OR REPLACE INTO t1 VALUES (?, ?)", ("a", 1.5))
        db.execute("INSERT OR REPLACE INTO t1 VALUES (?, ?)", ("a", 2.5))
        assert db.all("SELECT * FROM t1") == [{"k": "a", "cost": 2.5}]
    finally:
        db.close()


def test_versions_and_epochs_stay_serial_under_concurrent_writers(state_db: str) -> None:
    stores = [CommandStore(state_db) for _ in range(4)]
    versions: list[int] = []
    lock = threading.Lock()

    def issue(i: int) -> None:
        for j in range(10):
            out = stores[i].new_command(_cmd("n1", f"c{i}-{j}"))
            with lock:
                versions.append(int(out["version"]))
    threads = [threading.Thread(target=issue, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert sorted(versions) == list(range(1, 41))  # no version handed out twice
        assert stores[0].version("n1") == 40
        assert stores[1].desired("n1") is not None
        assert stores[0].raise_version("n1", 100) == (40, 100)
        assert stores[2].new_command(_cmd("n1", "after"))["version"] == 101
    finally:
        for s in stores:
            s.close()


def test_one_leader_among_instances_and_takeover_bumps_the_epoch(state_db: str) -> None:
    now = [1_000_000]
    stores = [CommandStore(state_db) for _ in range(3)]
    leases = [LeaderLease(s, f"inst-{i}", 5.0, clock_ms=lambda: now[0])
              for i, s in enumerate(stores)]
    try:
        assert [lease.tick() for lease in leases] == [True, False, False]
        epoch = leases[0].epoch
        assert stores[1].lease_info("policy")["holder"] == "inst-0"  # type: ignore[index]
        now[0] += 6000  # inst-0 stops renewing; its lease expires
        assert [lease.tick() for lease in leases[1:]] == [True, False]
        assert leases[1].epoch == epoch + 1  # type: ignore[operator]
        assert stores[2].current_epoch() == epoch + 1  # type: ignore[operator]
        assert not leases[0].tick()  # the old leader cannot renew
    finally:
        for s in stores:
            s.close()


def test_alerts_outbox_and_noc_sessions_are_shared_between_handles(state_db: str) -> None:
    a, b = AlertStore(state_db), AlertStore(state_db)
    o = OutboxStore(state_db)
    n1, n2 = NocStore(state_db), NocStore(state_db)
    try:
        opened = Opened("n1", "s1", "offline", "critical", 5, {"x": 1}, "down", "mati")
        assert a.apply([opened, opened]) == 1  # INSERT OR IGNORE on the partial unique index
        assert b.active_keys() == {("n1", "offline")}
        assert o.add("k1", "r1", "opened", {"m": 1}, 10) and not o.add("k1", "r1", "opened",
                                                                         {"m": 1}, 10)
        assert o.claim("r1", "me", 10)["payload"] == {"m": 1}  # type: ignore[index]
        n1.create_user("alice", "correct horse battery", "admin")
        with pytest.raises(StoreError, match="exists"):
            n2.create_user("alice", "correct horse battery", "admin")
        n1.add_session("sid-1", "alice", "csrf-1")  # a login on one instance ...
        got = n2.session("sid-1", idle_ms=60_000)  # ... is valid on another
        assert got is not None and got.user.username == "alice" and got.csrf == "csrf-1"
        n1.set_setting("k", "v1")
        n2.set_setting("k", "v2")
        assert n1.setting("k") == "v2"
        n1.upsert_site("s1", "Sampit", "park", 1.0, 2.0, 10.0)
        n2.upsert_site("s1", "Sampit 2", "park", 1.0, 2.0, 20.0)
        assert n1.sites()["s1"]["name"] == "Sampit 2"
    finally:
        for s in (a, b, o, n1, n2):
            s.close()


def test_sqlite_spelling_becomes_postgresql() -> None:
    assert pg_sql("SELECT * FROM t WHERE a = ? AND b LIKE '%?' AND c = :c") == (
        "SELECT * FROM t WHERE a = %s AND b LIKE '%?' AND c = %(c)s")
    assert pg_sql("INSERT OR IGNORE INTO t (a) VALUES (?)") == (
        "INSERT INTO t (a) VALUES (%s) ON CONFLICT DO NOTHING")
    assert pg_sql("CREATE TABLE x (id INTEGER PRIMARY KEY AUTOINCREMENT, b BLOB, r REAL, "
                  "n INTEGER) WITHOUT ROWID", False) == (
        "CREATE TABLE x (id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, b BYTEA, "
        "r DOUBLE PRECISION, n BIGINT)")


def test_a_dropped_connection_is_replaced(pg_cluster: PgCluster) -> None:
    url = pg_cluster.new_database()
    store = CommandStore(url)
    try:
        assert store.lease_acquire("policy", "a", 1000, 5000) == 1
        assert pg_cluster.terminate_clients(url) >= 1  # as after a server restart
        assert store.lease_info("policy")["holder"] == "a"  # type: ignore[index]  # read: retried
        pg_cluster.terminate_clients(url)
        with pytest.raises(CommandStoreError, match="command tables write failed"):
            store.lease_renew("policy", "a", 1, 2000, 5000)  # a write fails once, never twice
        assert store.lease_renew("policy", "a", 1, 2000, 5000)  # on a new connection
    finally:
        store.close()
