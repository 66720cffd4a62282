"""NOC fixtures: front-end assets, real headless Chromium, and a live stack (mosquitto, central
with the NOC in-process, kotanet-sim nodes as real processes)."""

# ruff: noqa: E402

from __future__ import annotations

import sys
from pathlib import Path

# tests/agent would shadow the real agent package (see tests/e2e/conftest.py).
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from noc_helpers import PASSWORD, ROOT, ServerThread, build_app, central_cfg

from agent.sim.stack import Proc, Stack
from central.collector import Collector
from central.config import RegistryNode
from central.noc import assets
from central.noc.store import create_user
from central.stats import Stats
from central.storage import Storage, open_storage

CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "artifacts" / "screenshots"
FLEET = 10
VICTIM_INDEX = FLEET - 1


@pytest.fixture(scope="session", autouse=True)
def noc_assets() -> None:
    """Leaflet and uPlot from npm (package-lock.json) copied into the static folder."""
    if not (ROOT / "node_modules" / "uplot").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True,
                       capture_output=True, timeout=240)
    assets.install(ROOT / "node_modules")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Real headless Debian Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            yield b
        finally:
            b.close()


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


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Mosquitto + central/NOC (real collector) + kotanet-sim fleet of FLEET nodes."""
    work = tmp_path_factory.mktemp("noc-live")
    stack = Stack(work, FLEET, interval_s=0.5, keepalive_s=2)
    stack.start_broker()
    storage: Storage | None = None
    server: ServerThread | None = None
    collector: Collector | None = None
    try:
        reg = json.loads(stack.registry_path.read_text())["nodes"]
        cfg = central_cfg(stack.db_path, stack.broker.url("central"), instance="noc-test",
                          nodes=[RegistryNode(**n) for n in reg])
        storage = open_storage(cfg.storage.url)
        collector = Collector(cfg, storage, Stats())
        server = ServerThread(build_app(cfg, storage, collector)).start()
        for user, role in (("admin", "admin"), ("operator", "operator"), ("viewer", "viewer")):
            create_user(stack.db_path, user, PASSWORD, role)
        victim = stack.fleet[VICTIM_INDEX].node
        others = [n.node for n in stack.fleet if n.node != victim]
        stack.start_sim("sim", only=others)
        victim_sim = stack.start_sim("sim-victim", only=[victim])
        live = Live(stack, storage, server, victim, victim_sim)
        wait(lambda: sum(1 for r in live.nodes().values()
                         if r["online"] and r["last_sample_ms"]) == FLEET, 60,
             "every simulated node online with samples")
        yield live
    finally:
        stack.close()
        if server is not None:
            server.stop()
        if storage is not None:
            storage.close()


def login(browser: Any, url: str, user: str, locale: str = "id-ID") -> tuple[Any, Any]:
    """A fresh browser context logged in as user; returns (context, page)."""
    ctx = browser.new_context(locale=locale, viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(f"{url}/noc/")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{url}/noc/")
    return ctx, page
