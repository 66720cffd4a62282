"""Shared fixtures: a real Mosquitto and a private PostgreSQL per test session (each started on
first use); with CI=true a skipped test fails."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioning.localbroker import LocalBroker

TEST_SUPERUSER = "kt-test"
_PG_DIR = str(Path(__file__).resolve().parent / "pg")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A real mosquitto on a free loopback port with generated password and ACL files.

    Users: 'central' (collector rights) and 'kt-test' (superuser for tests). Nodes are added
    with ``broker.add_user(node_id, password)``.
    """
    b = LocalBroker(tmp_path_factory.mktemp("mosquitto"))
    b.add_user("central", secrets.token_urlsafe(12), reload=False)
    b.add_user(TEST_SUPERUSER, secrets.token_urlsafe(12), reload=False)
    b.start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """A real PostgreSQL server for this test session (tests/pg/pg_cluster.py); stopped and
    removed afterwards. Without PostgreSQL installed the tests fail (never skip)."""
    if _PG_DIR not in sys.path:
        sys.path.append(_PG_DIR)
    from pg_cluster import PgCluster, PgClusterError

    try:
        cluster = PgCluster()
    except PgClusterError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        cluster.start()
    except (PgClusterError, KeyError, OSError) as exc:
        cluster.stop()
        pytest.fail(f"cannot start a test PostgreSQL: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.stop()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With CI=true a skipped test is a failure."""
    if os.environ.get("CI", "").lower() == "true" and report.skipped:
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under CI=true (skips fail the run): {reason}"


@pytest.fixture(params=["sqlite", "postgres"])
def state_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's state tables live, on both backends: a SQLite file, or a new empty
    database on the session's real PostgreSQL (``pg_cluster``)."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    cluster = request.getfixturevalue("pg_cluster")
    return str(cluster.new_database())
