"""Fixtures: one private PostgreSQL per test session, a fresh database per test, both backends.

``pg_cluster`` (session, in tests/conftest.py, shared with tests/enroll) starts initdb +
pg_ctl as the ``postgres`` OS user on a free 127.0.0.1 port with a generated password, and stops
and deletes it at the end; ``pg_url`` is a new empty database. Without PostgreSQL installed the
tests fail (never skip) and say what to install.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pg_cluster import PgCluster

from central.storage.base import Storage
from central.storage.postgres import PostgresStorage
from central.storage.sqlite import SqliteStorage


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """The URL of a new, empty database on the test server."""
    return pg_cluster.new_database()


OpenFn = Callable[[], Storage]


@pytest.fixture(params=["sqlite", "postgres"])
def open_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenFn]:
    """Open (more) handles on ONE database of the parametrised backend; all closed afterwards."""
    opened: list[Storage] = []
    if request.param == "sqlite":
        path = tmp_path / "central.db"

        def make() -> Storage:
            return SqliteStorage(path)
    else:
        url = request.getfixturevalue("pg_url")

        def make() -> Storage:
            return PostgresStorage(url)

    def opener() -> Storage:
        s = make()
        opened.append(s)
        return s

    yield opener
    for s in opened:
        s.close()


@pytest.fixture
def store(open_backend: OpenFn) -> Storage:
    """A fresh storage of the parametrised backend."""
    return open_backend()
