"""Writes the fuzz counts (tests/fuzz/harness.COUNTS) and failures to KOTANET_FUZZ_REPORT."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fuzz.harness import COUNTS

REPORT_ENV = "KOTANET_FUZZ_REPORT"
_FAILED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember every failed fuzz test (a crash, shrunk by hypothesis)."""
    if report.failed and "tests/fuzz/" in report.nodeid:
        _FAILED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write {handler: {label: count}} and the failed tests, for tests/fuzz/run.py."""
    path = os.environ.get(REPORT_ENV)
    if path:
        Path(path).write_text(json.dumps({"counts": COUNTS, "failed": _FAILED}), encoding="utf-8")
