"""Shared pieces of the live NOC browser tests: the Live stack handle, waits, login, shots."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from noc_helpers import PASSWORD, ROOT, ServerThread

from agent.sim.stack import Proc, Stack
from central.storage import Storage

CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "artifacts" / "screenshots"
FLEET = 10
VICTIM_INDEX = FLEET - 1
PAGE_ERRORS: dict[int, list[str]] = {}


def js_errors(page: Any) -> list[str]:
    """Uncaught script errors of a page opened by login()."""
    return PAGE_ERRORS.get(id(page), [])


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot as a test artifact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@dataclass
class Live:
    """A running stack: broker, simulated nodes, central + NOC at url."""

    stack: Stack
    storage: Storage
    server: ServerThread
    victim: str
    victim_sim: Proc

    @property
    def url(self) -> str:
        """Base URL of central (and the NOC under /noc/)."""
        return self.server.url

    def nodes(self) -> dict[str, dict[str, Any]]:
        """Central's node rows by id."""
        return {r["node"]: r for r in self.storage.list_nodes()}


def wait(pred: Any, timeout_s: float, what: str) -> Any:
    """Poll pred (bounded) until truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        val = pred()
        if val:
            return val
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def login(browser: Any, url: str, user: str, locale: str = "id-ID") -> tuple[Any, Any]:
    """A fresh browser context logged in as user; returns (context, page)."""
    ctx = browser.new_context(locale=locale, viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    errors: list[str] = []
    PAGE_ERRORS[id(page)] = errors
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/noc/")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{url}/noc/")
    return ctx, page
