"""The NOC's incidents page in real headless Chromium, against central with the real alert
engine (central.alerts: rules every 0.3 s, incident correlation) on a real SQLite database and
on a real PostgreSQL one: a node going offline opens an incident that appears live, an operator
acknowledges it with a note, a viewer sees it but cannot; maintenance windows; the fleet tile,
node page and settings.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from noc_helpers import (
    SITES_FILE,
    Browserless,
    ServerThread,
    central_cfg,
    fill,
    open_db,
    run_async,
)
from noc_live import js_errors, login, shot, wait

from central.alerts.api import setup_alerts
from central.alerts.incidents import IncidentConfig, SiteInfo
from central.alerts.model import AlertConfig
from central.api.app import make_app
from central.collector.stats import Stats
from central.noc import NocSettings, setup_noc
from central.noc.store import create_user
from central.notify.config import NotifySection
from central.notify.setup import setup_notify
from central.storage import Incoming, Storage
from protocol.messages import NodeState

# one node per site: every offline node is its own incident (no shared upstream)
SITES = ["taman-kota-sampit", "ikon-jelawat", "pelabuhan-sampit", "ketapang-waterfront",
         "taman-baamang", "kantor-bupati-kotim"]
NODES = [(f"inc-{i:02d}", site) for i, site in enumerate(SITES, start=1)]
WEBHOOK_KEY = "webhook-key-never-shown-0123"


@dataclass
class IncStack:
    """central (alerts + incidents + notify settings + NOC) on a temp database."""

    server: ServerThread
    storage: Storage

    @property
    def url(self) -> str:
        """Base URL of central."""
        return self.server.url

    def offline(self, node: str) -> None:
        """The node's retained state goes offline now (the alert engine opens 'offline')."""
        site = dict(NODES)[node]
        now = int(time.time() * 1000)
        self.storage.write([Incoming(site, node, NodeState.model_validate(
            {"site": site, "node": node, "ts_ms": now, "online": False, "session": 1}), now)])


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Iterator[IncStack]:
    """Every table in a SQLite file, or in a new database on the session's PostgreSQL."""
    work = tmp_path_factory.mktemp("noc-incidents")
    db: Path | str = work / "central.db"
    if request.param == "postgres":
        db = str(request.getfixturevalue("pg_cluster").new_database())
    cfg = central_cfg(db)
    storage = open_db(db)
    server: ServerThread | None = None
    try:
        fill(storage, NODES)
        (work / "hook.key").write_text(WEBHOOK_KEY)
        ncfg = NotifySection.model_validate({
            "enabled": False, "base_url": "https://noc.example.test",
            "channels": [{"id": "siem", "type": "webhook", "url": "https://siem.example.test/k",
                          "secret_file": str(work / "hook.key")}],
            "routes": [{"id": "piket", "channel": "siem", "lang": "id",
                        "min_severity": "warning", "site_kinds": ["park"],
                        "quiet_hours": "22:00-06:00"}]})
        app = make_app(cfg, storage, Stats())
        setup_notify(app, ncfg, db, storage, "noc-test", lambda: True)
        # offline after 0.5 s; no 'silent' alerts for the synthetic samples during the tests
        setup_alerts(app, storage, db, cfg=AlertConfig(offline_s=0.5, silent_s=3600,
                                                       freshness_s=3600),
                     interval_s=0.3, sites={s: SiteInfo(None, "", "park") for s in SITES},
                     incident_cfg=IncidentConfig(settle_s=1, resolve_hold_s=3600))
        setup_noc(app, NocSettings(sites_file=str(SITES_FILE)))
        server = ServerThread(app).start()
        for user, role in (("admin", "admin"), ("operator", "operator"), ("viewer", "viewer")):
            create_user(db, user, "correct-horse-battery", role)
        yield IncStack(server, storage)
    finally:
        if server is not None:
            server.stop()
        storage.close()


def _open(browser: Any, url: str, user: str, locale: str = "id-ID",
          path: str = "/noc/incidents", live: bool = True) -> tuple[Any, Any]:
    ctx, page = login(browser, url, user, locale)
    page.goto(url + path)
    if live:
        page.wait_for_selector("#live.on")
    return ctx, page


def _card(page: Any, node: str, state: str | None = None) -> Any:
    sel = "#incidents article" + (f'[data-state="{state}"]' if state else "")
    return page.locator(sel, has=page.locator(f'a[href="/noc/nodes/{node}"]'))


def test_operator_sees_new_incident_live_and_acknowledges_viewer_cannot(
        browser: Any, stack: IncStack) -> None:
    node = "inc-01"
    op_ctx, op = _open(browser, stack.url, "operator")
    view_ctx, viewer = _open(browser, stack.url, "viewer")
    try:
        for page in (op, viewer):
            assert _card(page, node).count() == 0
            page.evaluate("window.__noReload = 1")
        stack.offline(node)  # the alert engine opens 'offline', correlation an incident
        for page in (op, viewer):
            wait(lambda p=page: _card(p, node, "open").count() == 1, 20,  # type: ignore[misc]
                 "the new incident on the open tab, live")
            assert page.evaluate("window.__noReload") == 1  # no reload: over the WebSocket
        card = _card(op, node, "open")
        assert f"Node {node} di {dict(NODES)[node]} offline" in card.inner_text()
        assert card.locator(".ist").inner_text().strip() == "Terbuka"
        assert op.locator("#tab-open .n").inner_text() == "1"
        shot(op, "incidents-open-operator")
        # the viewer has no acknowledge control, and a forged POST is refused
        vcard = _card(viewer, node, "open")
        assert vcard.locator(".ack-form, .ack-btn").count() == 0
        inc_id = int(vcard.get_attribute("data-id"))
        forged = viewer.evaluate("""async (id) => {
            const boot = JSON.parse(document.getElementById('boot').textContent);
            const r = await fetch(`/api/v1/incidents/${id}/ack`, {method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': boot.csrf},
                body: JSON.stringify({note: 'forged'})});
            return r.status; }""", inc_id)
        assert forged == 403
        assert _card(viewer, node, "open").count() == 1  # still open, nobody acknowledged
        # the operator acknowledges with a note
        card.locator(".ack-note").fill("Teknisi berangkat ke lokasi")
        card.locator(".ack-btn").click()
        wait(lambda: _card(op, node, "open").count() == 0, 10, "the card leaves the open tab")
        wait(lambda: _card(viewer, node, "open").count() == 0, 10,
             "the viewer's open tab follows live")
        op.click("#tab-acknowledged")
        acked = _card(op, node, "acknowledged")
        wait(lambda: acked.count() == 1, 10, "the card on the acknowledged tab")
        text = acked.inner_text()
        assert "Diakui oleh noc:operator" in text and "WIB" in text
        assert "Teknisi berangkat ke lokasi" in acked.locator(".inc-note").inner_text()
        assert acked.locator(".ack-form").count() == 0
        acked.locator("summary").click()
        kinds = acked.locator(".inc-timeline li").evaluate_all("els => els.map(e => e.dataset.kind)")
        assert kinds[0] == "opened" and "acknowledged" in kinds
        assert "Teknisi berangkat ke lokasi" in acked.locator(
            '.inc-timeline li[data-kind="acknowledged"]').inner_text()
        assert acked.locator(".inc-members tbody tr").count() == 1
        shot(op, "incidents-acknowledged")
        viewer.click("#tab-acknowledged")
        wait(lambda: _card(viewer, node, "acknowledged").count() == 1, 10,
             "the viewer sees it acknowledged")
        assert not js_errors(op) and not js_errors(viewer)
    finally:
        op_ctx.close()
        view_ctx.close()


# English words that must not appear on the Indonesian page (whole words)
ENGLISH = ["Incidents", "Incident", "Open", "Acknowledged", "Acknowledge", "Resolved",
           "Maintenance", "Severity", "Site", "Sites", "Note", "Members", "Timeline", "Delete",
           "Add", "Start", "End", "Scope", "Created", "windows", "All", "opened", "Critical",
           "Warning", "Joined", "Cleared", "by", "on", "alerts"]


def test_page_in_indonesian_has_no_english_words(browser: Any, stack: IncStack) -> None:
    stack.offline("inc-02")
    ctx, page = _open(browser, stack.url, "operator", "id-ID", "/noc/incidents?state=active")
    try:
        wait(lambda: _card(page, "inc-02").count() == 1, 20, "an incident to show")
        for d in page.locator("#incidents details").all():
            d.evaluate("el => el.open = true")
        text = page.inner_text("body")
        found = sorted({w for w in ENGLISH if re.search(rf"\b{w}\b", text)})
        assert not found, f"English words on the Indonesian page: {found}"
        for word in ("Insiden", "Terbuka", "Jadwal pemeliharaan", "Linimasa", "Akui"):
            assert word in text
        page.click("#lang-switch")  # the same page in English
        page.wait_for_selector("#live.on")
        text = page.inner_text("body")
        assert "Incidents" in text and "Maintenance windows" in text
        assert f"Node inc-02 at {dict(NODES)['inc-02']} is offline" in text
        assert not js_errors(page)
    finally:
        ctx.close()


def test_alert_inside_a_maintenance_window_shows_in_maintenance(browser: Any,
                                                                 stack: IncStack) -> None:
    node, site = "inc-03", dict(NODES)["inc-03"]
    ctx, page = _open(browser, stack.url, "operator")
    try:
        # the operator plans a window over the node's site in the NOC (starts now, 2 h)
        page.select_option("#maint-scope", "site")
        page.select_option("#maint-site", site)
        page.fill("#maint-note", "PLN memadamkan listrik")
        page.click("#maint-add")
        row = page.locator("#maint-table tbody tr", has_text=site)
        wait(lambda: row.count() == 1, 10, "the window in the table")
        assert "PLN memadamkan listrik" in row.inner_text()
        assert "sedang berjalan" in row.inner_text()
        assert page.inner_text("#maint-result") == "Jadwal ditambahkan."
        stack.offline(node)
        page.click("#tab-maintenance")
        card = _card(page, node, "maintenance")
        wait(lambda: card.count() == 1, 20, "the incident on the in-maintenance tab, live")
        assert card.locator(".ist").inner_text().strip() == "Dalam pemeliharaan"
        assert card.locator(".ack-form").count() == 0  # nothing to acknowledge
        card.locator("summary").click()
        assert "dalam pemeliharaan" in card.locator(".inc-members .flags").inner_text()
        assert _card(page, node, "open").count() == 0
        shot(page, "incidents-maintenance")
        # the window can be deleted again
        row.locator(".maint-delete").click()
        wait(lambda: row.count() == 0, 10, "the window gone from the table")
        assert page.inner_text("#maint-result") == "Jadwal dihapus."
        assert not js_errors(page)
    finally:
        ctx.close()


def test_viewer_sees_windows_without_controls(browser: Any, stack: IncStack) -> None:
    ctx, page = _open(browser, stack.url, "viewer")
    try:
        assert page.locator("#maint-form").count() == 0
        forged = page.evaluate("""async () => {
            const boot = JSON.parse(document.getElementById('boot').textContent);
            const r = await fetch('/api/v1/maintenance', {method: 'POST',
                headers: {'Content-Type': 'application/json', 'X-CSRF-Token': boot.csrf},
                body: JSON.stringify({site: 'ikon-jelawat', start_ms: 1, end_ms: 2})});
            return r.status; }""")
        assert forged == 403
    finally:
        ctx.close()


ACTIVE = """async () => (await (await fetch('/api/v1/incidents?state=active')).json()).incidents"""


def test_fleet_tile_counts_active_incidents_and_node_page_lists_them(
        browser: Any, stack: IncStack) -> None:
    node = "inc-04"
    ctx, page = _open(browser, stack.url, "viewer", path="/noc/")
    try:
        stack.offline(node)

        def tile_matches_api(with_node: bool) -> bool:
            api = page.evaluate(ACTIVE)
            if with_node and not any(i["node"] == node for i in api):
                return False
            want = sum(1 for i in api if i["state"] in ("open", "acknowledged"))
            return page.inner_text("#tile-incidents .v") == str(want)
        wait(lambda: tile_matches_api(True), 20, "the tile counts the new incident live")
        assert "belum diakui" in page.inner_text("#tile-incidents-hint")
        # the problem tile beside it stays the fleet's own count, a filter of the table
        assert page.inner_text("#tile-alerts .k") == "Bermasalah"
        page.click("#tile-incidents")
        page.wait_for_url(f"{stack.url}/noc/incidents")
        page.goto(f"{stack.url}/noc/nodes/{node}")
        section = page.locator("#node-incidents")
        assert f"Node {node} di {dict(NODES)[node]} offline" in section.inner_text()
        section.locator("a", has_text="Semua insiden node ini").click()
        page.wait_for_selector("#live.on")
        wait(lambda: _card(page, node).count() == 1, 10, "the node's incident")
        assert page.locator("#incidents article").count() == 1  # only this node's
        assert not js_errors(page)
    finally:
        ctx.close()


def test_settings_show_channels_and_routes_without_secrets(browser: Any,
                                                          stack: IncStack) -> None:
    ctx, page = _open(browser, stack.url, "admin", path="/noc/settings", live=False)
    try:
        html = page.content()
        assert WEBHOOK_KEY not in html
        ch = page.locator('#notify-settings tr[data-channel="siem"]').inner_text()
        assert "webhook" in ch and "https://siem.example.test/k" in ch and "terbaca" in ch
        assert Path(ch.split("berkas ", 1)[1].split(" ", 1)[0]).name == "hook.key"
        route = page.locator('#notify-settings tr[data-route="piket"]').inner_text()
        assert "tingkat ≥ Peringatan" in route and "Taman" in route and "22:00-06:00" in route
        assert "dimatikan" in page.inner_text("#notify-settings")
    finally:
        ctx.close()


async def _http(base: str) -> dict[str, Any]:
    import aiohttp

    out: dict[str, Any] = {}
    async with aiohttp.ClientSession() as anon:
        async with anon.get(base + "/noc/incidents", allow_redirects=False) as r:
            out["anon_page"] = (r.status, r.headers.get("Location", ""))
        async with anon.get(base + "/noc/api/incidents") as r:
            out["anon_json"] = r.status
    c = Browserless(base)
    try:
        await c.login("viewer")
        async with c.http.get(base + "/noc/api/incidents?state=nonsense") as r:
            out["bad_state"] = (r.status, (await r.json())["error"])
        async with c.http.get(base + "/noc/api/incidents?state=active&severity=critical") as r:
            body = await r.json()
            out["active"] = body["incidents"]
            out["counts"] = body["counts"]
        async with c.http.post(base + "/api/v1/incidents/1/ack", json={"note": "x"},
                               headers={"X-CSRF-Token": c.csrf}) as r:
            out["viewer_ack"] = r.status
    finally:
        await c.close()
    return out


def test_incident_routes_need_a_login_and_check_their_input(stack: IncStack) -> None:
    out = run_async(_http(stack.url))
    assert out["anon_page"][0] == 303 and "/noc/login" in out["anon_page"][1]
    assert out["anon_json"] == 401
    assert out["bad_state"][0] == 400 and "state must be one of" in out["bad_state"][1]
    assert out["active"] and all(i["state"] != "resolved" and i["severity"] == "critical"
                                 for i in out["active"])
    assert all(i["titles"]["id"] and i["timeline"] for i in out["active"])
    assert out["counts"]["active"] == out["counts"]["open"] + out["counts"]["acknowledged"]
    assert out["viewer_ack"] == 403


def test_without_the_alert_engine_the_page_says_so(browser: Any, tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    storage = open_db(db)
    app = make_app(central_cfg(db), storage, Stats())
    setup_noc(app, NocSettings(sites_file=str(SITES_FILE)))
    server = ServerThread(app).start()
    try:
        create_user(db, "viewer", "correct-horse-battery", "viewer")
        ctx, page = _open(browser, server.url, "viewer", live=False)
        try:
            assert "Mesin peringatan tidak berjalan" in page.inner_text(".flash")
            assert not page.locator("#incidents article").count()
            page.goto(server.url + "/noc/")
            assert page.inner_text("#tile-alerts .k") == "Bermasalah"  # the fleet's own count
            assert not page.locator("#tile-incidents").count()  # no engine, no incidents tile
            assert not js_errors(page)
        finally:
            ctx.close()
    finally:
        server.stop()
        storage.close()
