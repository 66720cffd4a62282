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
from collections.abc import Iterator
from typing import Any

import pytest
from noc_helpers import PASSWORD, ROOT, ServerThread, build_app, central_cfg
from noc_live import CHROME_ARGS, CHROMIUM, FLEET, VICTIM_INDEX, Live, wait

from agent.sim.stack import Stack
from central.collector import Collector
from central.collector.stats import Stats
from central.config import RegistryNode
from central.noc import assets
from central.noc.store import create_user
from central.storage import Storage, open_storage


@pytest.fixture(scope="session", autouse=True)
def noc_assets() -> None:
    """Leaflet and uPlot from npm (package-lock.json) copied into the static folder."""
    if not (ROOT / "node_modules" / "uplot").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True,
                       capture_output=True, timeout=240)
    assets.install(ROOT / "node_modules")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Real headless Debian Chromium driven by Playwright (module scope: Playwright's sync API
    runs an event loop in the main thread, which later modules' asyncio.run() must not see)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def noc_backend() -> str:
    """Central's database in a module's ``live`` stack: SQLite; a module whose live tests run
    on PostgreSQL too overrides this fixture with params (as test_noc_browser.py does)."""
    return "sqlite"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, noc_backend: str,
         request: pytest.FixtureRequest) -> Iterator[Live]:
    """Mosquitto + central/NOC (real collector) + kotanet-sim fleet of FLEET nodes; every
    central table in a SQLite file or in a new PostgreSQL database (``noc_backend``)."""
    work = tmp_path_factory.mktemp("noc-live")
    url = (str(request.getfixturevalue("pg_cluster").new_database())
           if noc_backend == "postgres" else None)
    stack = Stack(work, FLEET, interval_s=0.5, keepalive_s=2, db_url=url)
    stack.start_broker()
    storage: Storage | None = None
    server: ServerThread | None = None
    collector: Collector | None = None
    try:
        reg = json.loads(stack.registry_path.read_text())["nodes"]
        cfg = central_cfg(stack.state_target, stack.broker.url("central"), instance="noc-test",
                          nodes=[RegistryNode(**n) for n in reg])
        # central signs with the stack's command key; the simulated fleet trusts its public key
        cfg = cfg.model_copy(update={"commands": cfg.commands.model_copy(
            update={"signing_key_file": str(stack.command_key)})})
        storage = open_storage(cfg.storage.url)
        collector = Collector(cfg, storage, Stats())
        server = ServerThread(build_app(cfg, storage, collector, full=True)).start()
        for user, role in (("admin", "admin"), ("operator", "operator"), ("viewer", "viewer")):
            create_user(stack.state_target, user, PASSWORD, role)
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
