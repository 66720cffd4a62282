"""Shared fixtures: a real Mosquitto per test session; with CI=true a skipped test fails."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from provisioning.localbroker import LocalBroker

TEST_SUPERUSER = "kt-test"


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


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """With CI=true a skipped test is a failure."""
    if os.environ.get("CI", "").lower() == "true" and report.skipped:
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped under CI=true (skips fail the run): {reason}"
