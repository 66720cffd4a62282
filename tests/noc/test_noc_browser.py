"""The NOC in real headless Chromium against a live stack (mosquitto, central, kotanet-sim),
central on SQLite and on PostgreSQL (``noc_backend``)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from noc_helpers import (
    ADMIN_TOKEN,
    SITES_FILE,
    ServerThread,
    build_app,
    central_cfg,
    fill,
    open_db,
)
from noc_live import FLEET, Live, js_errors, login, shot, wait

from central.noc.store import NocStore


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def noc_backend(request: pytest.FixtureRequest) -> str:
    """The live stack's tests of this module run on both backends (conftest.py's ``live``)."""
    return str(request.param)


def _text(page: Any, selector: str) -> str:
    return str(page.inner_text(selector)).strip()


# One look at central and the page: /api/v1/nodes, the users tile (and the rows shown), then
# /api/v1/nodes again. Central's data held still in between when both answers name the same
# newest sample of every node.
_USERS_PROBE = """async () => {
    const nodes = async () => (await (await fetch('/api/v1/nodes')).json()).nodes;
    const key = (ns) => ns.map((n) => `${n.node}:${n.online}:${n.last_seq}:${n.users}`).join(' ');
    const a = await nodes();
    const tile = Number(document.querySelector('#tile-users .v').textContent);
    const rows = document.querySelectorAll('#nodes tbody tr').length;
    const b = await nodes();
    return {tile, rows, still: key(a) === key(b), online: b.filter((n) => n.online).length,
            sum: b.reduce((s, n) => s + (n.online ? (n.users || 0) : 0), 0)};
}"""
PAUSE_S = 1.6  # the sims' keepalive is 2 s: the broker would drop them (last will) after 3 s


def _signal_sims(live: Live, sig: int) -> None:
    for proc in live.stack.procs:
        if proc.name in ("sim", "sim-victim") and proc.alive():
            os.killpg(proc.pid, sig)


def _users_tile_matches_api(page: Any, live: Live, attempts: int = 3) -> None:
    """The users tile shows exactly the sum of the online nodes' users that central knows.

    The simulated users move every sample (0.5 s) and the tile follows a poll later, so the fleet
    is frozen (SIGSTOP) for at most PAUSE_S: central's data stops moving and the tile must equal
    the API's sum while that sum holds still. The table is filtered to one node meanwhile: the
    tile counts the fleet, not the rows shown. A tile summing leases or the visible rows, or
    stuck on data central has moved on from, never equals it.
    """
    page.fill("#filter", live.victim)
    seen: list[list[dict[str, Any]]] = []
    try:
        for attempt in range(attempts):
            probes: list[dict[str, Any]] = []
            seen.append(probes)
            _signal_sims(live, signal.SIGSTOP)
            try:
                deadline = time.monotonic() + PAUSE_S
                while time.monotonic() < deadline:
                    p = page.evaluate(_USERS_PROBE)
                    probes.append(p)
                    if p["still"] and p["online"] == FLEET and p["rows"] == 1 and \
                            p["sum"] > 0 and p["tile"] == p["sum"]:
                        return
                    page.wait_for_timeout(50)
            finally:
                _signal_sims(live, signal.SIGCONT)
            if attempt + 1 < attempts:  # samples flow again before the next try
                wait(lambda: all(r["online"] for r in live.nodes().values()), 10, "fleet online")
                page.wait_for_timeout(1000)
        raise AssertionError(f"the users tile never equalled the API's sum at rest: {seen}")
    finally:
        page.fill("#filter", "")


def test_login_then_fleet_shows_live_simulated_nodes(browser: Any, live: Live) -> None:
    ctx = browser.new_context(locale="id-ID", viewport={"width": 1400, "height": 1000})
    try:
        page = ctx.new_page()
        page.goto(f"{live.url}/noc/")
        assert "/noc/login" in page.url  # anonymous users are sent to the login form
        shot(page, "login")
        page.fill("#username", "admin")
        page.fill("#password", "wrong password!")
        page.click("#login-submit")
        assert "salah" in _text(page, ".flash")  # refused, in Indonesian
        ctx.close()
        ctx, page = login(browser, live.url, "admin")
        page.wait_for_selector("#live.on")
        rows = page.locator("#nodes tbody tr")
        wait(lambda: rows.count() == FLEET, 10, "a table row per node")
        assert _text(page, "#tile-online .v") == str(FLEET)
        assert _text(page, "#tile-offline .v") == "0"
        _users_tile_matches_api(page, live)
        # every node's state reads as text, not only as colour
        states = page.locator("#nodes tbody .badge").all_inner_texts()
        assert len(states) == FLEET and all(s.strip() for s in states)
        # the map works with no tile server: a labelled schematic, one marker per site
        page.wait_for_selector("#map.schematic")
        assert page.locator("#map path.leaflet-interactive").count() == FLEET
        assert page.locator("#map .site-label").count() == FLEET
        # filter and sort
        page.fill("#filter", live.victim)
        wait(lambda: rows.count() == 1, 5, "filter to one node")
        page.fill("#filter", "")
        page.click('th[data-key="node"]')
        names = page.locator("#nodes tbody tr td:first-child").all_inner_texts()
        assert names == sorted(names) and len(names) == FLEET
        page.click('th[data-key="node"]')
        assert page.locator("#nodes tbody tr td:first-child").all_inner_texts() == \
            sorted(names, reverse=True)
        # live diffs keep arriving (users, RTT change every sample): rows update in place
        rtts = page.locator("#nodes tbody tr td:nth-child(8)")  # RTT column
        before = rtts.all_inner_texts()
        wait(lambda: rtts.all_inner_texts() != before, 15, "a live RTT change in the table")
        assert rows.count() == FLEET and not js_errors(page)
        shot(page, "fleet")
    finally:
        ctx.close()


def test_node_page_draws_charts_with_data(browser: Any, live: Live) -> None:
    ctx, page = login(browser, live.url, "operator", locale="en-GB")
    try:
        node = live.stack.fleet[0].node
        page.click(f'#nodes a[href="/noc/nodes/{node}"]')
        page.wait_for_url(f"{live.url}/noc/nodes/{node}")
        page.wait_for_selector('.charts[data-loaded="1h"]')
        for chart in ("rtt", "loss", "users", "throughput"):
            assert int(page.get_attribute(f"#chart-{chart}", "data-points") or 0) > 0, chart
            assert page.locator(f"#chart-{chart} canvas").count() == 1, chart
        assert page.locator("#cause .badge").count() == 1
        assert page.locator("#console").is_visible()  # operators get the command console
        page.click('[data-range="24h"]')
        page.wait_for_selector('.charts[data-loaded="24h"]')
        assert int(page.get_attribute("#chart-users", "data-points") or 0) > 0
        page.click("#cmd-send")
        assert page.locator("#cmd-confirm").is_visible()  # asks before sending
        assert node in _text(page, "#cmd-question")
        page.click("#cmd-no")
        assert page.locator("#cmd-confirm").is_hidden()
        # a real command through central's commands API, MQTT and the simulated agent's ack
        page.select_option("#cmd-kind", "resync")
        page.click("#cmd-send")
        page.click("#cmd-yes")
        page.wait_for_selector('#cmd-result[data-status="202"]')
        page.wait_for_selector('#cmd-result[data-state="applied"]', timeout=30000)
        shot(page, "node")
        store = NocStore(live.stack.state_target)
        try:
            cmds = [a for a in store.audit_log() if a["action"] == "command"]
        finally:
            store.close()
        assert cmds and cmds[0]["actor"] == "operator" and cmds[0]["ok"] == 1
        assert '"kind": "resync"' in cmds[0]["detail"] and node in cmds[0]["target"]
    finally:
        ctx.close()


def test_viewer_cannot_see_or_use_operator_actions(browser: Any, live: Live) -> None:
    ctx, page = login(browser, live.url, "viewer", locale="en-GB")
    try:
        node = live.stack.fleet[0].node
        page.goto(f"{live.url}/noc/nodes/{node}")
        page.wait_for_selector('.charts[data-loaded="1h"]')
        assert page.locator("#console").count() == 0
        status = page.evaluate(
            """async (node) => {
                const boot = JSON.parse(document.getElementById('boot').textContent);
                const r = await fetch(`/api/v1/nodes/${node}/commands`, {method: 'POST',
                  headers: {'Content-Type': 'application/json', 'X-CSRF-Token': boot.csrf},
                  body: JSON.stringify({kind: 'resync', params: {}, ttl_s: 60})});
                return r.status; }""", node)
        assert status == 403
        assert page.locator('nav a[href="/noc/users"]').count() == 0
        shot(page, "node-viewer")
        resp = page.goto(f"{live.url}/noc/users")
        assert resp is not None and resp.status == 403
    finally:
        ctx.close()


def test_language_follows_browser_and_switch(browser: Any, live: Live) -> None:
    ctx, page = login(browser, live.url, "viewer", locale="en-US")
    try:
        assert page.get_attribute("html", "lang") == "en"
        assert _text(page, "h1") == "Fleet"
        assert "Online" in _text(page, "#tile-online")
        page.click("#lang-switch")
        page.wait_for_selector('html[lang="id"]')
        assert _text(page, "h1") == "Armada"
        assert "Pengguna sekarang" in _text(page, "#tile-users")
        page.goto(f"{live.url}/noc/budget")  # the cookie keeps the choice on every page
        assert page.get_attribute("html", "lang") == "id"
        shot(page, "budget")
        page.click("#lang-switch")
        page.wait_for_selector('html[lang="en"]')
    finally:
        ctx.close()


def test_budget_report_chart_and_csv(browser: Any, live: Live) -> None:
    ctx, page = login(browser, live.url, "viewer", locale="en-GB")
    try:
        page.goto(f"{live.url}/noc/budget")
        rows = page.locator("table.budget tbody tr")
        sites = len(json.loads(SITES_FILE.read_text())["sites"])
        assert rows.count() == sites  # one row per site of the month, data or not
        assert int(page.get_attribute("#chart-budget", "data-points") or 0) >= 1
        assert page.locator("#chart-budget canvas").count() == 1
        with page.expect_download() as dl:
            page.click("#csv")
        text = open(dl.value.path(), encoding="utf-8").read()
        table = list(csv.DictReader(io.StringIO(text)))
        assert len(table) == sites
        measured = [r for r in table if r["P95 (Mbit/s)"]]
        assert len(measured) == FLEET  # 10 nodes on 10 distinct Sampit sites
        assert all(float(r["Contract (Mbit/s)"]) > 0 and
                   float(r["Peak (Mbit/s)"]) >= float(r["P95 (Mbit/s)"]) for r in measured)
    finally:
        ctx.close()


def test_admin_pages_and_audit_of_logins(browser: Any, live: Live) -> None:
    ctx, page = login(browser, live.url, "admin", locale="en-GB")
    try:
        page.goto(f"{live.url}/noc/users")
        page.fill("#add-user input[name=username]", "field-tech")
        page.fill("#add-user input[name=password]", "another-long-password")
        page.select_option("#add-user select[name=role]", "viewer")
        page.click("#add-user button")
        assert "field-tech" in _text(page, "table.users")
        shot(page, "users")
        page.goto(f"{live.url}/noc/audit")
        audit = _text(page, "table.audit")
        assert "Add account" in audit and "account field-tech" in audit and "Log in" in audit
        assert "another-long-password" not in audit
        shot(page, "audit")
        # a tile server is a setting: here our own server plays one (traffic stays on loopback)
        tiles = f"{live.url}/noc/static/vendor/leaflet/images/layers.png?z={{z}}&x={{x}}&y={{y}}"
        page.goto(f"{live.url}/noc/settings")
        page.fill("input[name=tile_url]", tiles)
        page.click("form.card button")
        shot(page, "settings")
        page.goto(f"{live.url}/noc/")
        page.wait_for_selector("#map img.leaflet-tile-loaded")
        assert page.locator("#map.blank").count() == 0
        page.goto(f"{live.url}/noc/settings")
        page.fill("input[name=tile_url]", "")
        page.click("form.card button")
        page.goto(f"{live.url}/noc/audit")
        assert "Change settings" in _text(page, "table.audit")
    finally:
        ctx.close()


def test_node_going_offline_shows_live(browser: Any, live: Live) -> None:
    ctx, page = login(browser, live.url, "viewer", locale="en-GB")
    try:
        page.wait_for_selector("#live.on")
        page.evaluate("window.__notReloaded = true")
        row = f'#nodes tbody tr[data-node="{live.victim}"]'
        assert page.get_attribute(row, "data-state") != "offline"
        node_page = ctx.new_page()  # a second tab on the victim's own page
        node_page.goto(f"{live.url}/noc/nodes/{live.victim}")
        node_page.wait_for_selector('.charts[data-loaded="1h"]')
        assert "Offline" not in _text(node_page, "#cause")
        live.victim_sim.stop()  # clean shutdown: the agent publishes state online=false
        wait(lambda: not live.nodes()[live.victim]["online"], 20, "central marks it offline")
        # central knows: the open pages show it without a reload (poll 0.5 s + push)
        page.wait_for_selector(f'{row}[data-state="offline"]', timeout=5000)
        node_page.wait_for_selector('#cause[data-state="offline"]', timeout=5000)
        assert _text(node_page, "#cause").startswith("Offline Offline since")
        shot(node_page, "node-offline")
        assert page.evaluate("window.__notReloaded") is True
        assert _text(page, "#tile-offline .v") == "1"
        assert "offline for" in _text(page, f"{row} .since")
        # its values are last known: greyed, with their age, not counted as users now
        assert page.locator(f"{row} td.stale").count() >= 3
        assert "last data" in _text(page, f"{row} .stale-age")
        # the offline event central recorded, with its time and who recorded it
        off = live.nodes()[live.victim]["offline_since_ms"]
        assert (page.get_attribute(f"{row} .since", "title") or "").startswith("offline since ")
        assert node_page.get_attribute("#cause", "data-since") == str(off)
        ev = node_page.locator('#events tbody tr[data-kind="offline"]')
        ev.wait_for(timeout=5000)
        assert ev.get_attribute("data-ts") == str(off)
        assert ev.locator("td.actor").inner_text().strip() == "central"
        assert "recorded by central" in _text(node_page, "#cause")
        assert not js_errors(page)
        shot(page, "fleet-offline")
    finally:
        ctx.close()


def test_first_admin_set_up_in_the_browser(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    storage = open_db(db)
    fill(storage, [("taman-kota-sampit-01", "taman-kota-sampit")])
    srv = ServerThread(build_app(central_cfg(db), storage)).start()
    ctx = browser.new_context(locale="id-ID")
    try:
        page = ctx.new_page()
        page.goto(f"{srv.url}/noc/")
        assert page.url.endswith("/noc/setup")  # no account yet
        shot(page, "setup")
        page.fill("input[name=token]", ADMIN_TOKEN)
        page.fill("input[name=username]", "kepala-noc")
        page.fill("input[name=password]", "panjang-sekali-123")
        page.click("form.card button")
        page.wait_for_url(f"{srv.url}/noc/")
        assert "kepala-noc · Admin" in _text(page, "nav .who")
        assert _text(page, "#tile-online .v") == "1"
    finally:
        ctx.close()
        srv.stop()
        storage.close()
