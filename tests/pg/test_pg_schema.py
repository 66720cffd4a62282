"""PostgreSQL only: migrations at start, several collectors starting, lost connections, secrets."""

from __future__ import annotations

import logging
import threading

import psycopg
import pytest
from pg_cluster import PgCluster
from pg_msgs import birth, tele

from central.storage import StorageError
from central.storage.postgres import SCHEMA_VERSION, PostgresStorage


def _versions(url: str) -> list[int]:
    with psycopg.connect(url) as c:
        return [r[0] for r in c.execute("SELECT version FROM schema_version ORDER BY version")]


def test_collectors_starting_together_migrate_once(pg_url: str) -> None:
    opened: list[PostgresStorage] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def start() -> None:
        try:
            gate.wait(timeout=30)
            opened.append(PostgresStorage(pg_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert errors == [] and len(opened) == 4
        assert _versions(pg_url) == list(range(1, SCHEMA_VERSION + 1))
    finally:
        for s in opened:
            s.close()


def test_reopening_keeps_data_and_a_newer_schema_is_refused(pg_url: str) -> None:
    db = PostgresStorage(pg_url)
    db.write([tele([1, 2])])
    db.close()
    db = PostgresStorage(pg_url)  # the next start of central: no error, nothing lost
    assert db.totals()["samples"] == 2
    db.close()
    assert _versions(pg_url) == list(range(1, SCHEMA_VERSION + 1))
    with psycopg.connect(pg_url) as c:
        c.execute("INSERT INTO schema_version VALUES (%s, 0)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StorageError, match=f"schema version {SCHEMA_VERSION + 1}, newer"):
        PostgresStorage(pg_url)


def test_a_lost_connection_is_reopened_without_losing_the_batch(
        pg_url: str, pg_cluster: PgCluster) -> None:
    db = PostgresStorage(pg_url)
    try:
        db.write([birth(1, 10)])
        assert db.list_nodes()[0]["online"] == 1
        assert pg_cluster.terminate_clients(pg_url) == 2  # writer and reader, as on a restart
        db.write([tele([1, 2, 3])])
        assert [s["seq"] for s in db.samples("n1", None, None, 10)] == [1, 2, 3]
    finally:
        db.close()


def test_the_password_never_reaches_errors_or_logs(
        pg_url: str, pg_cluster: PgCluster, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "Wr0ng-" + pg_cluster.password[:8]
    bad_url = pg_url.replace(pg_cluster.password, wrong)
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(StorageError) as err:
            PostgresStorage(bad_url)
        db = PostgresStorage(pg_url)
        db.list_nodes()
        pg_cluster.terminate_clients(pg_url)
        db.list_nodes()  # reconnects, with a warning in the log
        db.close()
    for broken in (f"postgresql://kotanet:{wrong}@[::1/t", f"postgresql://k@[::1?password={wrong}"):
        with pytest.raises(StorageError) as bad:  # libpq quotes a bad URL in its message
            PostgresStorage(broken)
        assert wrong not in str(bad.value) and "IPv6" in str(bad.value)
    assert "kotanet:***@127.0.0.1" in str(err.value)
    assert "password authentication failed" in str(err.value)
    text = caplog.text + str(err.value)
    assert "kotanet:***@" in caplog.text and "reconnecting" in caplog.text
    assert wrong not in text and pg_cluster.password not in text


def test_open_storage_picks_postgres_from_the_url(pg_url: str) -> None:
    """KOTANET_DB=postgresql://... gives the PostgreSQL backend."""
    from central.storage import open_storage
    s = open_storage(pg_url)
    try:
        assert type(s).__name__ == "PostgresStorage"
        assert s.list_nodes() == []
    finally:
        s.close()
