"""The NOC tells the truth (issue 19), in real headless Chromium with locale id-ID: pages fit a
phone and a desktop, the console refuses bad values in Indonesian before sending, shows what it
sends in Mbit/s and what the node did in words, the cause line and events follow without a
reload, the problem start shown is the time of the event that began it, and the live indicator
turns non-green when a real central process is frozen (SIGSTOP) and green again (SIGCONT).
The live stack's tests run with central on SQLite and on PostgreSQL (``noc_backend``)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from noc_helpers import PASSWORD
from noc_live import Live, js_errors, login, shot, wait

from agent.sim.stack import Proc, Stack
from central.noc.store import create_user

SIZES = ((390, 844), (1400, 900))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def noc_backend(request: pytest.FixtureRequest) -> str:
    """The live stack's tests of this module run on both backends (conftest.py's ``live``)."""
    return str(request.param)


def _text(page: Any, selector: str) -> str:
    return str(page.inner_text(selector)).strip()


def _overflow(page: Any) -> int:
    """How many px the page is wider than the viewport (0: no horizontal page scroll)."""
    return int(page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"))


def test_fleet_and_node_pages_fit_phone_and_desktop(browser: Any, live: Live) -> None:
    ctx, page = login(browser, live.url, "operator")
    try:
        node = live.stack.fleet[0].node
        for w, hgt in SIZES:
            page.set_viewport_size({"width": w, "height": hgt})
            page.goto(f"{live.url}/noc/")
            page.wait_for_selector("#live.on")
            page.wait_for_selector("#nodes tbody tr")
            assert _overflow(page) <= 0, f"fleet at {w}px is {_overflow(page)}px too wide"
            shot(page, f"fleet-{w}")
            page.goto(f"{live.url}/noc/nodes/{node}")
            page.wait_for_selector('.charts[data-loaded="1h"]')
            assert _overflow(page) <= 0, f"node page at {w}px is {_overflow(page)}px too wide"
            # every chart fits its box: the newest data (right edge) is on screen
            for chart in ("rtt", "users", "throughput"):
                right = page.evaluate(
                    f"document.querySelector('#chart-{chart} canvas')"
                    ".getBoundingClientRect().right")
                assert right <= w, (chart, right, w)
            shot(page, f"node-{w}")
        assert not js_errors(page)
    finally:
        ctx.close()


def test_tiles_filter_and_search_matches_site_names_and_states(browser: Any, live: Live) -> None:
    ctx, page = login(browser, live.url, "viewer")
    try:
        rows = page.locator("#nodes tbody tr")
        wait(lambda: rows.count() == len(live.stack.fleet), 10, "a row per node")
        page.click("#tile-online")  # a tile filters the table
        assert page.get_attribute("#tile-online", "aria-pressed") == "true"
        online = int(_text(page, "#tile-online .v"))
        wait(lambda: rows.count() == online, 5, "only online nodes")
        page.click("#tile-online")  # again: everything
        wait(lambda: rows.count() == len(live.stack.fleet), 5, "the whole fleet again")
        some = live.stack.fleet[2]
        site_name = page.locator(f'#nodes tbody tr[data-node="{some.node}"] td').nth(1).inner_text()
        page.fill("#filter", site_name.strip().lower())  # a site's name finds its node
        wait(lambda: some.node in rows.evaluate_all("rs => rs.map(r => r.dataset.node)"), 5,
             "the node of that site")
        page.fill("#filter", "normal")  # an Indonesian state word
        wait(lambda: rows.count() > 0 and all(
            s == "ok" for s in rows.evaluate_all("rs => rs.map(r => r.dataset.state)")), 5,
             "only nodes in state Normal")
        page.fill("#filter", "")
        # a map click opens the site's (worst) node
        dot = page.locator("#map path[data-node]").first
        target = dot.get_attribute("data-node")
        dot.dispatch_event("click")
        page.wait_for_url(f"{live.url}/noc/nodes/{target}")
    finally:
        ctx.close()


def test_fleet_works_without_the_map_library(browser: Any, live: Live) -> None:
    ctx = browser.new_context(locale="id-ID", viewport={"width": 390, "height": 844})
    ctx.route("**/vendor/leaflet/**", lambda route: route.abort())  # Leaflet fails to load
    try:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{live.url}/noc/")
        page.fill("#username", "viewer")
        page.fill("#password", PASSWORD)
        page.click("#login-submit")
        page.wait_for_url(f"{live.url}/noc/")
        page.wait_for_selector("#live.on")
        rows = page.locator("#nodes tbody tr")
        wait(lambda: rows.count() == len(live.stack.fleet), 10, "a row per node")
        page.wait_for_selector("#map.unavailable")
        assert "Peta tidak dapat dimuat" in _text(page, "#map")
        dots = page.locator("#map a.dot")  # the labelled schematic still opens nodes
        assert dots.count() == len(live.stack.fleet)
        assert all(x.strip() for x in dots.all_inner_texts())
        href = dots.first.get_attribute("href")
        dots.first.click()
        page.wait_for_url(f"{live.url}{href}")
        page.wait_for_selector('.charts[data-loaded="1h"]')
        assert not errors, errors
    finally:
        ctx.close()


BAD = (("", "wajib diisi"), ("0", "paling kecil 0,008"), ("-5", "paling kecil 0,008"),
       ("99999999", "paling besar 10.000"), ("abc", "bukan angka"))


def test_console_refuses_bad_values_confirms_in_mbit_and_applies_in_words(
        browser: Any, live: Live) -> None:
    ctx, page = login(browser, live.url, "operator")
    try:
        node = live.stack.fleet[1].node
        sent: list[str] = []
        page.on("request", lambda r: sent.append(r.url) if "/commands" in r.url else None)
        page.goto(f"{live.url}/noc/nodes/{node}")
        page.wait_for_selector('.charts[data-loaded="1h"]')
        page.evaluate("window.__notReloaded = true")
        before = _text(page, "#cause-text")
        assert "Dibatasi" not in before
        page.select_option("#cmd-kind", "set_throttle")
        for value, words in BAD:  # refused in Indonesian, nothing sent, nothing becomes 0
            page.fill('input[name="down_mbps"]', value)
            page.click("#cmd-send")
            page.wait_for_selector("#cmd-error:not([hidden])")
            err = _text(page, "#cmd-error")
            assert "Perintah belum dikirim" in err and words in err, (value, err)
            assert page.locator("#cmd-confirm").is_hidden()
            assert page.get_attribute('input[name="down_mbps"]', "aria-invalid") == "true"
            assert page.input_value('input[name="down_mbps"]') == value  # kept as typed
        assert sent == []
        # a valid throttle: the confirmation states the values in Mbit/s
        page.fill('input[name="down_mbps"]', "2,5")
        page.fill('input[name="up_mbps"]', "1")
        page.fill('input[name="lease_min"]', "30")
        page.click("#cmd-send")
        assert page.locator("#cmd-error").is_hidden()
        question = _text(page, "#cmd-question")
        assert "2,5 Mbit/s turun" in question and "1 Mbit/s naik" in question, question
        assert "30 menit" in question and node in question
        page.click("#cmd-yes")
        page.wait_for_selector('#cmd-result[data-status="202"]')
        page.wait_for_selector('#cmd-result[data-state="applied"]', timeout=30000)
        result = _text(page, "#cmd-result")
        assert result.startswith("Diterapkan di node ") and "berlaku sampai" in result, result
        assert "c-" not in result and "applied" not in result  # words, not ids and states
        # the cause line and events follow without a reload, naming who acted
        page.wait_for_function(
            "document.getElementById('cause-text').textContent.includes('Dibatasi ke 2,5')",
            timeout=10000)
        cause = _text(page, "#cause-text")
        assert "1 Mbit/s naik" in cause and "oleh operator operator" in cause, cause
        row = page.locator('#events tbody tr[data-kind="throttle"]').first
        row.wait_for(timeout=10000)
        when = row.locator("td").first.inner_text().strip()
        assert row.locator("td.actor").inner_text().strip() == "operator operator"
        # the problem start shown is the event's time (not the session's start)
        assert f"sejak {when}" in cause, (when, cause)
        if page.get_attribute("#cause", "data-state") == "throttled":
            assert page.get_attribute("#cause", "data-since") == row.get_attribute("data-ts")
        assert page.evaluate("window.__notReloaded") is True
        assert len(sent) == 1 or all("/api/v1/commands/" in u for u in sent[1:])
        shot(page, "console-applied")
        # the fleet's "since" of that node says the same start (from the event)
        page.goto(f"{live.url}/noc/")
        since = page.locator(f'#nodes tbody tr[data-node="{node}"] .since')
        since.wait_for()
        if page.get_attribute(f'#nodes tbody tr[data-node="{node}"]', "data-state") == \
                "throttled":
            assert (since.get_attribute("title") or "") == f"sejak {when} (dari kejadian)"
        assert not js_errors(page)
    finally:
        ctx.close()


# ------------------------------------------------------------------ a real, frozen central
@pytest.fixture(scope="module")
def real_central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Proc]]:
    """Mosquitto, central as its own process (kotanet-central, NOC included), 3 sim nodes."""
    stack = Stack(tmp_path_factory.mktemp("noc-freeze"), 3, interval_s=0.5, keepalive_s=2)
    proc: Proc | None = None
    try:
        stack.start_broker()
        proc = stack.start_central()
        create_user(stack.state_target, "operator", PASSWORD, "operator")
        stack.start_sim("sim")
        wait(lambda: len(stack.online()) == 3, 60, "three nodes online")
        yield stack, proc
    finally:
        if proc is not None and proc.alive():
            os.kill(proc.pid, signal.SIGCONT)  # never leave it stopped
        stack.close()


def _level(page: Any) -> str:
    return str(page.get_attribute("#live", "data-level"))


def test_live_indicator_follows_a_frozen_central(browser: Any,
                                                  real_central: tuple[Stack, Proc]) -> None:
    stack, proc = real_central
    url = f"http://{stack.http['central-1']}"
    ctx, page = login(browser, url, "operator")
    try:
        node_page = ctx.new_page()
        node_page.goto(f"{url}/noc/nodes/{stack.fleet[0].node}")
        for p in (page, node_page):
            p.wait_for_selector("#live.on", timeout=10000)
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            for p in (page, node_page):  # within 15 s of the freeze: not green, and says so
                p.wait_for_selector("#live:not(.on)", timeout=15000)
                assert _level(p) in ("stale", "dead")
                assert "terakhir diperbarui" in _text(p, "#live")
            shot(page, "fleet-frozen")
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        for p in (page, node_page):
            p.wait_for_selector("#live.on", timeout=20000)
            assert _text(p, "#live").startswith("Langsung")
        assert not js_errors(page) and not js_errors(node_page)
    finally:
        ctx.close()
