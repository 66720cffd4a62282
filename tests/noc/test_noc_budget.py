"""The budget page on a recorded month: order, totals, costs and flags checked against a
computation done here from the raw samples; the page (real Chromium, id-ID) and the CSV agree
to the digit; costs are entered in the settings form the Indonesian way."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from noc_helpers import PASSWORD, Browserless, ServerThread, central_cfg, open_db, run_async, sample
from noc_live import login, shot

from central.api.app import make_app
from central.collector.stats import Stats
from central.config import RegistryNode
from central.noc import NocSettings, setup_noc
from central.noc.i18n import WIB
from central.noc.store import create_user
from central.storage import Incoming, Storage
from protocol.messages import Tele

MONTH = "2026-11"
SINCE = int(datetime(2026, 11, 1, tzinfo=WIB).timestamp() * 1000)
UNTIL = int(datetime(2026, 12, 1, tzinfo=WIB).timestamp() * 1000)
B = 300_000  # one sample per node per 5-minute bucket
WEEK = 7 * 86400_000
THRESHOLD = 20.0

# site -> (name, kind, contract Mbit/s, cost Rp/month or None, nodes)
SITES: dict[str, tuple[str, str, float | None, int | None, int]] = {
    "kantor-dinas-a": ("Dinas A", "office", 200, 15_000_000, 1),  # never used: 0 %
    "taman-b": ("Taman B", "park", 100, 5_000_000, 2),  # two nodes, busy evenings
    "kantor-c": ("Kantor C", "office", 50, 4_000_000, 1),  # nearly full
    "taman-d": ("Taman D", "park", 40, None, 1),  # quiet, but busy in the last week
    "kantor-e": ("Kantor E", "office", 100, 2_000_000, 0),  # no node: no data
    "kantor-f": ("=1+1 Kantor F", "office", None, None, 1),  # no contract; formula-like name
}


def _rate(site: str, node: int, ts: int, rnd: random.Random) -> float:
    """The recorded download rate (bit/s) of one node at one time."""
    hour = datetime.fromtimestamp(ts / 1000, WIB).hour
    if site == "kantor-dinas-a":
        return 0.0
    if site == "taman-b":
        return (18e6 if 17 <= hour < 22 else 3e6) * rnd.uniform(0.6, 1.4)
    if site == "kantor-c":
        return rnd.uniform(40e6, 49e6)
    if site == "taman-d":
        return rnd.uniform(20e6, 38e6) if ts >= UNTIL - WEEK else rnd.uniform(0.5e6, 2e6)
    return rnd.uniform(1e6, 9e6)


def _record(storage: Storage) -> dict[str, dict[int, float]]:
    """Write the month (and the days before it) and return per site its bucket -> Mbit/s."""
    rnd = random.Random(19)
    nodes = [(f"{site}-n{i}", site) for site, v in SITES.items() for i in range(v[4])]
    storage.sync_registry([RegistryNode(node=n, site=s, role=SITES[s][1], name=s)
                           for n, s in nodes])
    truth: dict[str, dict[int, float]] = {}
    start = UNTIL - 5 * WEEK  # a week before the month too (ignored by the month's figures)
    for node, site in nodes:
        seq, batch = 0, []
        for ts in range(start, UNTIL, B):
            if site == "taman-b" and node.endswith("n1") and (ts // B) % 97 == 0:
                continue  # a node missing some buckets: the site's sum has one node there
            rx = _rate(site, int(node[-1]), ts, rnd)
            seq += 1
            batch.append(sample(seq, ts + 1000, rx_bps=rx))
            if ts >= SINCE or ts >= UNTIL - 4 * WEEK:
                acc = truth.setdefault(site, {})
                acc[ts // B] = acc.get(ts // B, 0.0) + rx / 1e6
            if len(batch) == 500:
                _write(storage, site, node, batch)
                batch = []
        _write(storage, site, node, batch)
    return truth


def _write(storage: Storage, site: str, node: str, samples: list[dict[str, Any]]) -> None:
    if samples:
        storage.write([Incoming(site, node, Tele.model_validate(
            {"site": site, "node": node, "ts_ms": UNTIL, "session": 1, "seq": samples[0]["seq"],
             "samples": samples}), UNTIL)])


def _p95(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]


def expected(truth: dict[str, dict[int, float]], costs: dict[str, int | None]
             ) -> list[dict[str, Any]]:
    """The report computed here from the raw samples, in the page's order."""
    lo, hi = SINCE // B, UNTIL // B
    rows = []
    for site, (name, kind, cap, _, _) in SITES.items():
        all_b = truth.get(site, {})
        vals = [v for b, v in all_b.items() if lo <= b < hi]
        cost = costs.get(site)
        row: dict[str, Any] = {"name": name, "kind": kind, "cap": cap, "cost": cost,
                               "flags": [], "coverage": round(100 * len(vals) / (hi - lo))}
        if vals:
            row["p95"] = round(_p95(vals), 1)
            row["peak"] = round(max(vals), 1)
            row["volume"] = round(sum(vals) * 300 / 8 / 1000, 1)
        if cap is None:
            row["flags"] = ["Kontrak belum diisi"]
        elif not vals:
            row["flags"] = ["Tanpa data"]
        else:
            row["waste"] = round(cap - row["p95"], 1)
            row["use"] = round(100 * row["p95"] / cap)
            hours: dict[int, list[float]] = {}
            for b, v in all_b.items():
                if lo <= b < hi:
                    hours.setdefault(b * B // 3600_000, []).append(v)
            row["idle"] = sum(1 for h in hours.values() if sum(h) / len(h) < 0.1 * cap)
            if cost is not None:
                row["unused"] = round(cost * max(0.0, row["waste"]) / cap)
            weeks = [[v for b, v in all_b.items() if UNTIL - (4 - w) * WEEK <= b * B
                      < UNTIL - (3 - w) * WEEK] for w in range(4)]
            if all(wk and _p95(wk) < THRESHOLD / 100 * cap for wk in weeks):
                row["flags"].append("Pemakaian rendah")
            if row["use"] >= 90:
                row["flags"].append("Hampir penuh")
        rows.append(row)
    rows.sort(key=lambda r: (r.get("waste") is None, -(r.get("waste") or 0), r["name"]))
    return rows


def id_num(text: str) -> float | None:
    """An Indonesian number of the page ('1.234,5'), '—' as None."""
    text = text.strip()
    return None if text in ("—", "") else float(text.replace(".", "").replace(",", "."))


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, Any]]:
    """central + NOC on a database holding a recorded November 2026."""
    work = tmp_path_factory.mktemp("budget")
    sites_file = work / "sites.json"
    sites_file.write_text(json.dumps({"sites": [
        {"site": s, "name": v[0], "kind": v[1], "capacity_mbps": v[2],
         **({"cost_month": v[3]} if s != "taman-b" and v[3] is not None else {})}
        for s, v in SITES.items()]}))
    storage = open_db(work / "c.db")
    truth = _record(storage)
    cfg = central_cfg(work / "c.db")
    app = make_app(cfg, storage, Stats())
    setup_noc(app, NocSettings(sites_file=str(sites_file)))
    create_user(work / "c.db", "admin", PASSWORD, "admin")
    server = ServerThread(app).start()
    try:
        yield server, truth
    finally:
        server.stop()
        storage.close()


async def _enter_cost_and_get_csv(url: str) -> tuple[int, str, str]:
    """Enter Taman B's cost as 'Rp 5.000.000' in the settings form; then fetch the CSV."""
    admin = Browserless(url)
    try:
        admin.http.cookie_jar.update_cookies({"kt_lang": "id"})
        assert await admin.login("admin") == 303
        async with admin.http.post(f"{url}/noc/settings/site", data={
                "csrf": admin.csrf, "site": "taman-b", "lat": "-2,5412", "lon": "112,9496",
                "capacity_mbps": "100", "cost_month": "Rp 5.000.000"}) as r:
            status = r.status
        async with admin.http.get(f"{url}/noc/budget.csv?month={MONTH}") as r:
            assert r.status == 200 and r.content_type == "text/csv"
            disposition = r.headers["Content-Disposition"]
            return status, await r.text(), disposition
    finally:
        await admin.close()


def test_budget_month_matches_raw_samples_and_csv_agrees(browser: Any, recorded: Any) -> None:
    server, truth = recorded
    status, csv_text, disposition = run_async(_enter_cost_and_get_csv(server.url))
    assert status == 200 and "anggaran-2026-11" in disposition
    want = expected(truth, {s: v[3] for s, v in SITES.items()})
    ctx, page = login(browser, server.url, "admin", locale="id-ID")
    try:
        page.goto(f"{server.url}/noc/budget?month={MONTH}")
        cols = page.eval_on_selector_all(
            "#budget-table thead th", "ths => ths.map(th => th.dataset.col)")
        rows = page.eval_on_selector_all("#budget-table tbody tr", """trs => trs.map(tr =>
            Object.fromEntries([...tr.children].map(c => [c.dataset.col, c.innerText.trim()])))""")
        totals = page.eval_on_selector_all("#budget-totals > *", """cs => Object.fromEntries(
            cs.filter(c => c.dataset.col).map(c => [c.dataset.col, c.innerText.trim()]))""")
        legend = page.inner_text("#budget-legend")
        summary = page.inner_text("#budget-summary")
        assert page.locator("#chart-budget canvas").count() == 1
        shot(page, "budget-month-id")
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        shot(page, "budget-month-id-390")
    finally:
        ctx.close()
    # order: the largest waste first, sites without a contract or data last
    assert [r["name"] for r in rows] == [w["name"] for w in want]
    for got, w in zip(rows, want, strict=True):
        assert got["kind"] == ("Kantor" if w["kind"] == "office" else "Taman")
        assert id_num(got["capacity_mbps"]) == w["cap"], w["name"]
        assert id_num(got["p95_mbps"]) == w.get("p95"), w["name"]
        assert id_num(got["peak_mbps"]) == w.get("peak"), w["name"]
        assert id_num(got["waste_mbps"]) == w.get("waste"), w["name"]
        assert id_num(got["use_pct"]) == w.get("use"), w["name"]
        assert id_num(got["volume_gb"]) == w.get("volume"), w["name"]
        assert id_num(got["idle_hours"]) == w.get("idle"), w["name"]
        assert id_num(got["coverage_pct"]) == w["coverage"], w["name"]
        assert id_num(got["cost_month"]) == w["cost"], w["name"]
        assert id_num(got["unused_cost_month"]) == w.get("unused"), w["name"]
        assert [f for f in got["flags"].split() if f] == " ".join(w["flags"]).split(), w["name"]
    by_name = {w["name"]: w for w in want}
    assert by_name["Dinas A"]["flags"] == ["Pemakaian rendah"]  # 200 Mbit/s at 0 %
    assert by_name["Dinas A"]["use"] == 0 and rows[0]["name"] == "Dinas A"
    assert by_name["Taman D"]["flags"] == []  # quiet for three weeks only
    assert by_name["Kantor C"]["flags"] == ["Hampir penuh"]
    # totals: the sums of the rows
    for col, key in (("capacity_mbps", "cap"), ("waste_mbps", "waste"), ("volume_gb", "volume"),
                     ("cost_month", "cost"), ("unused_cost_month", "unused")):
        assert id_num(totals[col]) == pytest.approx(
            sum(w.get(key) or 0 for w in want), abs=1e-6), col
    assert "1 lokasi memakai kurang dari 20 % kontraknya selama 4 minggu" in summary
    assert "Jam sepi" in legend and "di bawah 10 % kontrak" in legend
    # the CSV: Indonesian headers and words, ';' cells, the page's digits exactly
    table = list(csv.reader(io.StringIO(csv_text), delimiter=";"))
    assert table[0][0] == "Lokasi" and "Kontrak (Mbit/s)" in table[0] and "Tanda" in table[0]
    assert len(table) == len(rows) + 1 and len(table[0]) == len(cols)
    for line, got in zip(table[1:], rows, strict=True):
        cells = dict(zip(cols, line, strict=True))
        for col in cols:
            page_text = got[col].replace(".", "") if col not in ("name", "kind", "flags") else got[col]
            csv_text_cell = cells[col]
            if col == "name" and got[col].startswith("="):
                assert csv_text_cell == "'" + got[col]  # formula cells neutralised
                continue
            if col == "flags":
                assert csv_text_cell.replace(",", "").split() == page_text.split()
                continue
            assert csv_text_cell == ("" if page_text == "—" else page_text), (got["name"], col)
