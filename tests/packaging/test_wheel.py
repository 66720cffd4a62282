"""A wheel that works, as a new user gets it: build the wheel from a clean clone of this
repository's HEAD (front-end files from the locked npm packages, as `make wheel` does), install
it into a fresh virtualenv, start ``kotanet-central`` from that virtualenv with a simulated
fleet (real mosquitto, kotanet-sim), and see the nodes in the NOC fleet table in headless
Chromium, also when the map library cannot be loaded."""

# ruff: noqa: E402

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # tests/agent would shadow the real agent package
    sys.path.insert(0, str(ROOT))

import importlib.util
import os
import shutil
import subprocess
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from agent.sim.stack import Proc, Stack, wait_until
from provisioning.localbroker import free_port

CHROMIUM = "/usr/bin/chromium"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FLEET = 4
USER, PASSWORD = "noc-admin", "wheel-test-password-42"


def run(argv: list[str], cwd: Path, timeout: float = 600, **env: str) -> str:
    """Run a command; fail with its output if it fails."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    res = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                         env={**full_env, **env}, check=False)
    assert res.returncode == 0, f"{' '.join(argv)} failed ({res.returncode}):\n" \
        f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout


def test_check_wheel_refuses_a_wheel_without_the_front_end(tmp_path: Path) -> None:
    """What `make wheel` checks: a wheel built without `make noc-assets` is refused."""
    spec = importlib.util.spec_from_file_location("check_wheel", ROOT / "scripts/check_wheel.py")
    assert spec and spec.loader
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    src = tmp_path / "src"
    for name in ("static/fleet.js", "static/vendor/leaflet/LICENSE", "templates/base.html"):
        (src / "central/noc" / name).parent.mkdir(parents=True, exist_ok=True)
        (src / "central/noc" / name).write_text("x")
    wheel = tmp_path / "kotanet-0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name in check.REQUIRED:
            if "/vendor/" not in name:
                zf.writestr(name, "x")
    lack = check.missing(wheel, src)
    assert "central/noc/static/vendor/leaflet/leaflet-src.esm.js" in lack
    assert "central/noc/static/vendor/uplot/LICENSE" in lack
    assert "central/noc/templates/base.html" in lack  # a template of the source tree
    assert not [n for n in lack if "/vendor/" not in n and "templates" not in n]
    assert check.main([str(wheel), "--source", str(src)]) == 1


@dataclass
class Installed:
    """A fresh virtualenv with the kotanet wheel installed."""

    venv: Path
    wheel: Path

    def bin(self, name: str) -> Path:
        """A console script of the virtualenv."""
        return self.venv / "bin" / name


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """git clone HEAD -> npm ci (offline, locked) + noc assets -> pip wheel -> fresh venv."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(src)], tmp)
    assert not (src / "central/noc/static/vendor").exists()  # git-ignored: a clean clone
    run(["npm", "ci", "--offline", "--no-audit", "--no-fund", "--loglevel=error"], src)
    run([sys.executable, "-m", "central.noc", "assets", "node_modules"], src)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp / "dist"),
         str(src)], tmp)
    (wheel,) = (tmp / "dist").glob("kotanet-*.whl")
    run([sys.executable, str(src / "scripts/check_wheel.py"), str(wheel), "--source", str(src)],
        tmp)
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp)
    run([str(venv / "bin/pip"), "install", "--quiet", str(wheel)], tmp, timeout=900)
    return Installed(venv, wheel)


def test_wheel_carries_the_front_end_and_licences(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as zf:
        names = set(zf.namelist())
        licence = zf.read("central/noc/static/vendor/leaflet/LICENSE").decode()
    assert "central/noc/static/vendor/uplot/LICENSE" in names
    assert "central/noc/static/vendor/leaflet/leaflet-src.esm.js" in names
    assert "BSD" in licence or "Copyright" in licence
    # The installed package is the wheel's, not this checkout.
    where = run([str(installed.bin("python")), "-c", "import central; print(central.__file__)"],
                installed.venv)
    assert where.strip().startswith(str(installed.venv)), where


@dataclass
class Running:
    """The stack plus central from the wheel's virtualenv."""

    stack: Stack
    url: str


@pytest.fixture(scope="module")
def running(installed: Installed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """Mosquitto + kotanet-sim from this checkout; kotanet-central from the installed wheel."""
    work = tmp_path_factory.mktemp("wheel-stack")
    stack = Stack(work, FLEET, interval_s=1.0, keepalive_s=2)
    try:
        stack.start_broker()
        http = f"127.0.0.1:{free_port()}"
        stack.http["wheel"] = http
        conf = work / "central.toml"
        conf.write_text(f'instance = "wheel"\nregistry_file = "{stack.registry_path}"\n'
                        "[mqtt]\nkeepalive_s = 5\n")
        env = {**stack.central_env(http), "KOTANET_NOC_PASSWORD": PASSWORD}
        run([str(installed.bin("python")), "-m", "central.noc", "create-user", USER,
             "--db", str(stack.db_path)], work, **env)
        central = Proc("central-wheel", [str(installed.bin("kotanet-central")), "--config",
                                         str(conf)], work / "logs" / "central.log",
                       {**env, "PYTHONPATH": ""}).start()
        stack.procs.append(central)
        wait_until(lambda: not central.alive() or _healthy(http), 60, "central /healthz")
        assert central.alive(), central.tail()
        stack.start_sim("sim")
        wait_until(lambda: len(stack.online()) == FLEET, 60, "the simulated fleet online")
        yield Running(stack, f"http://{http}")
    finally:
        stack.close()


def _healthy(http: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{http}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def _login(browser: Any, url: str, block_map: bool) -> tuple[Any, Any, list[str]]:
    ctx = browser.new_context(locale="id-ID", viewport={"width": 1400, "height": 1000})
    if block_map:  # the map library fails to load (404 from a broken install, a proxy, ...)
        ctx.route("**/vendor/leaflet/**", lambda route: route.abort())
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/noc/")
    page.fill("#username", USER)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_url(f"{url}/noc/")
    return ctx, page, errors


@pytest.mark.broker
@pytest.mark.parametrize("block_map", [False, True], ids=["with-map", "map-blocked"])
def test_noc_from_the_wheel_shows_the_fleet(running: Running, block_map: bool) -> None:
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM), f"{CHROMIUM} missing: apt-get install chromium"
    expected = sorted(n["node"] for n in running.stack.nodes())
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        try:
            ctx, page, errors = _login(browser, running.url, block_map)
            page.wait_for_selector("#live.on")
            page.wait_for_function(
                f"document.querySelectorAll('#nodes tbody tr[data-node]').length === {FLEET}")
            shown = sorted(page.locator("#nodes tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.node)"))
            assert shown == expected
            if block_map:
                page.wait_for_selector("#map.unavailable")
                assert "Peta tidak dapat dimuat" in page.inner_text("#map")
            else:
                page.wait_for_function("document.querySelector('#map.leaflet-container')")
            node = expected[0]
            page.click(f'#nodes a[href="/noc/nodes/{node}"]')
            page.wait_for_selector('.charts[data-loaded="1h"]')
            assert node in page.inner_text("body")
            assert not errors, errors
            ctx.close()
        finally:
            browser.close()
