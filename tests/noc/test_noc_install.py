"""The open install-check page /install/{node} against a real central (aiohttp server, SQLite
storage with births and samples) and a real deployment built from the sample inventory."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from noc_helpers import ServerThread, central_cfg, open_db, sample

from central.api.app import make_app
from central.assemble import build_app as build_central
from central.collector.stats import Stats
from central.noc.install import JSON_KEYS, setup_install
from central.storage import Incoming, Storage
from protocol.messages import Birth, Tele
from provisioning.brokerfiles import load_manifest
from tests.provisioning.provhelp import make_deployment

USERS = 4321  # a user count that cannot appear by accident
IP = re.compile(r"\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b")


@dataclass
class Central:
    """A running central with the install page, its storage and the manifest's nodes."""

    url: str
    storage: Storage
    good: str  # birth hash == manifest hash
    bad: str  # birth hash != manifest hash
    site: str
    expected: str  # the manifest hash of ``good``


def _birth(site: str, node: str, ts: int, config_hash: str) -> Birth:
    return Birth.model_validate({
        "site": site, "node": node, "ts_ms": ts, "session": 1, "boot_id": "b",
        "agent_version": "0.1.0", "config_hash": config_hash, "role": "park",
        "uplinks": [{"name": "fibre", "iface": "eth0", "kind": "ethernet", "priority": 0},
                    {"name": "lte", "iface": "wwan0", "kind": "lte", "priority": 1}],
        "clock": {"synced": True, "wall_ms": ts}})


def _store(storage: Storage, site: str, node: str, config_hash: str, now: int) -> None:
    """A birth, three live samples (fibre up) and a newer-seq historical one (fibre down)."""
    live = [sample(i + 1, now - 30_000 + i * 10_000, users=USERS) for i in range(3)]
    old = [sample(9, now - 600_000, active="lte", users=USERS)]
    storage.write([
        Incoming(site, node, _birth(site, node, now - 40_000, config_hash), now - 40_000),
        Incoming(site, node, Tele.model_validate({"site": site, "node": node, "ts_ms": now,
                                                  "session": 1, "seq": 1, "samples": live}), now),
        Incoming(site, node, Tele.model_validate({"site": site, "node": node, "ts_ms": now,
                                                  "session": 1, "seq": 9, "historical": True,
                                                  "samples": old}), now)])


@pytest.fixture(scope="module")
def central(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Central]:
    """Central with KOTANET_DEPLOYMENT set to a built deployment; two manifest nodes stored."""
    work = tmp_path_factory.mktemp("install")
    dep = make_deployment(work)
    nodes = load_manifest(dep)["nodes"]
    good, bad = sorted(nodes)[:2]
    site = str(nodes[good]["site"])
    storage = open_db(work / "central.db")
    now = int(time.time() * 1000)
    _store(storage, site, good, str(nodes[good]["config_hash"]), now)
    _store(storage, str(nodes[bad]["site"]), bad, "0" * 64, now)
    cfg = central_cfg(work / "central.db")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KOTANET_DEPLOYMENT", str(dep.root))
        app = make_app(cfg, storage, Stats())
        setup_install(app)  # as central.assemble does: the deployment from the environment
    server = ServerThread(app).start()
    try:
        yield Central(server.url, storage, good, bad, site, str(nodes[good]["config_hash"]))
    finally:
        server.stop()
        storage.close()


def get(url: str) -> tuple[int, dict[str, str], str]:
    """GET with no cookie and no token: (status, headers, body)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url), timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def test_json_has_exactly_the_allowed_fields_and_the_hash_match(central: Central) -> None:
    status, headers, body = get(f"{central.url}/install/{central.good}?format=json")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    data = json.loads(body, parse_constant=lambda c: pytest.fail(f"not strict JSON: {c}"))
    assert set(data) == set(JSON_KEYS)
    assert data["node"] == central.good and data["online"] is True
    assert data["config_hash_match"] is True
    assert isinstance(data["last_seen_ms"], int)
    # the newest non-historical sample: fibre up (the historical one with a higher seq is not)
    assert data["uplinks_up"] == [{"name": "fibre", "up": True}, {"name": "lte", "up": True}]
    _, _, bad = get(f"{central.url}/install/{central.bad}?format=json")
    assert json.loads(bad)["config_hash_match"] is False


def test_html_is_indonesian_and_shows_nothing_more(central: Central) -> None:
    status, headers, html = get(f"{central.url}/install/{central.good}")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in headers
    assert '<html lang="id">' in html and "Cek pemasangan" in html
    assert "Konfigurasi sesuai" in html and ">Ya<" in html and "WIB" in html
    assert re.search(r"\d\d (Jan|Feb|Mar|Apr|Mei|Jun|Jul|Agu|Sep|Okt|Nov|Des) \d{4} "
                     r"\d\d:\d\d WIB", html)
    assert "detik lalu" in html or "baru saja" in html
    assert central.good in html
    for secret in (central.site, central.expected, "0" * 64, str(USERS), "Taman", "Sampit"):
        assert secret not in html, secret
    assert not IP.search(html)
    _, _, en = get(f"{central.url}/install/{central.good}?lang=en")
    assert '<html lang="en">' in en and "Configuration matches" in en
    _, _, bad = get(f"{central.url}/install/{central.bad}")
    assert ">Tidak<" in bad


def test_unknown_and_malformed_ids_get_one_identical_404(central: Central) -> None:
    answers = [get(f"{central.url}/install/{node}") for node in
               ("no-such-node", "zz-unknown-9", "bad%20id", "a.b")]
    assert {a[0] for a in answers} == {404}
    assert len({a[2] for a in answers}) == 1
    assert "Node tidak dikenal" in answers[0][2] and "no-such-node" not in answers[0][2]
    assert all(a[1]["Cache-Control"] == "no-store" for a in answers)
    js = [get(f"{central.url}/install/{n}?format=json") for n in ("no-such-node", "bad%20id")]
    assert {a[0] for a in js} == {404} and js[0][2] == js[1][2]


def test_without_a_deployment_the_match_is_not_known(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KOTANET_DEPLOYMENT", raising=False)
    storage = open_db(tmp_path / "c.db")
    _store(storage, "taman-x", "node-x", "abc", int(time.time() * 1000))
    app = make_app(central_cfg(tmp_path / "c.db"), storage, Stats())
    setup_install(app, per_minute=1, burst=2)
    server = ServerThread(app).start()
    try:
        status, _, body = get(f"{server.url}/install/node-x?format=json")
        assert status == 200 and json.loads(body)["config_hash_match"] is None
        _, _, html = get(f"{server.url}/install/node-x")
        assert "tidak diketahui" in html
        status, headers, _ = get(f"{server.url}/install/node-x")  # burst of 2 used up
        assert status == 429 and int(headers["Retry-After"]) >= 1
    finally:
        server.stop()
        storage.close()


def test_the_composition_root_registers_the_route(tmp_path: Path) -> None:
    storage = open_db(tmp_path / "c.db")
    try:
        app = build_central(central_cfg(tmp_path / "c.db"), storage, Stats(), with_policy=False)
        paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
        assert "/install/{node}" in paths
    finally:
        storage.close()


def test_page_fits_a_phone_without_horizontal_scroll(browser: Any, central: Central) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="id-ID")
    try:
        page = ctx.new_page()
        page.goto(f"{central.url}/install/{central.good}")
        assert page.inner_text("h1") == "Cek pemasangan"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('dd'))"
                             ".fontSize)")
        assert size >= 24  # big enough to read at arm's length
    finally:
        ctx.close()
