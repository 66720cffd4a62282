"""Enrolment fixtures: a built deployment, its generated mosquitto and central's HTTPS server;
both storage backends (a private PostgreSQL per session) for the enrolment floors."""

# ruff: noqa: E402

from __future__ import annotations

import sys
from pathlib import Path

# the repository first (tests/agent would shadow the real package), then provhelp's and
# pg_cluster's directories
_ROOT = Path(__file__).resolve().parents[2]
for _p in (str(_ROOT / "tests" / "pg"), str(_ROOT / "tests" / "provisioning"), str(_ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from collections.abc import Iterator

import pytest
from enrollhelp import EnrollEnv, HttpsServer
from provhelp import GeneratedBroker, make_deployment

from central.enroll import setup_enroll
from central.storage.base import Storage
from central.storage.postgres import PostgresStorage
from central.storage.sqlite import SqliteStorage
from provisioning.localbroker import free_port


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnrollEnv]:
    """One deployment (sample inventory), its broker and central's enrolment endpoint."""
    root = tmp_path_factory.mktemp("enroll")
    port = free_port()
    dep = make_deployment(root, extra=("--enroll-url", f"https://127.0.0.1:{port}/enroll/v1"))
    with GeneratedBroker(dep) as broker:
        server = HttpsServer(dep, port)
        setup_enroll(server.app, dep.root, str(broker.pid_file), per_minute=600, burst=1000)
        with server:
            yield EnrollEnv(dep, broker, server.url, root)


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """A fresh central storage of the parametrised backend."""
    s: Storage
    if request.param == "sqlite":
        s = SqliteStorage(tmp_path / "central.db")
    else:
        s = PostgresStorage(request.getfixturevalue("pg_cluster").new_database())
    yield s
    s.close()
