"""Bounded polling for tests: one wait_for, imported as ``from tests.waiting import wait_for``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(cond: Callable[[], Any], timeout: float = 15.0, what: str = "condition",
             step: float = 0.05) -> Any:
    """Poll cond every ``step`` s until truthy (bounded); return its value, or fail naming what
    was awaited and the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
