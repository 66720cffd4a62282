"""The weekly report's CSV equals what a NOC viewer downloads from the budget page
(/noc/budget.csv?week=...) for the same week, over HTTP from a running NOC, in English and in
Indonesian."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from central.clock import wall_ms
from central.noc.store import NocStore, create_user
from central.notify.config import NotifySection
from central.notify.report import build_report, week_bounds, week_of
from central.storage import Incoming
from protocol.messages import Tele

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "noc"))
from noc_helpers import (
    PASSWORD,
    Browserless,
    ServerThread,
    build_app,
    central_cfg,
    fill,
    open_db,
    sample,
)

TZ = "Asia/Jakarta"


def test_weekly_report_csv_equals_the_budget_page_csv_for_the_same_week(
        tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    storage = open_db(db)
    now = wall_ms()
    # a week whose traffic lies inside the page's last-7-days window too
    week = week_of(now - 3 * 3_600_000, TZ)
    start, end = week_bounds(week, TZ)
    lo, hi = max(start, now - int(6.5 * 86_400_000)), min(end, now - 600_000)
    lo -= lo % 300_000
    fill(storage, [("kd-01", "kantor-dinas"), ("kd-02", "kantor-dinas"),
                   ("tk-01", "taman-kota")], samples_per_node=0, now_ms=now)
    for node, site, rx in (("kd-01", "kantor-dinas", 6e6), ("kd-02", "kantor-dinas", 9e6),
                           ("tk-01", "taman-kota", 30e6)):
        ts = list(range(lo, hi, 300_000))
        for c in range(0, len(ts), 500):
            smp = [sample(c + i + 1, t, rx_bps=rx * (1 + (i % 12) / 6))
                   for i, t in enumerate(ts[c:c + 500])]
            storage.write([Incoming(site, node, Tele.model_validate(
                {"site": site, "node": node, "ts_ms": now, "session": 1, "seq": c + 1,
                 "samples": smp}), now)])
    app = build_app(central_cfg(db), storage)
    noc = NocStore(db)
    noc.upsert_site("kantor-dinas", "Kantor Dinas", "office", None, None, 100.0)
    noc.upsert_site("taman-kota", "Taman Kota", "park", None, None, 50.0)
    create_user(db, "layar", PASSWORD, "viewer")
    server = ServerThread(app).start()
    try:
        async def page_csv(lang: str) -> str:
            client = Browserless(server.url)
            try:
                assert await client.login("layar") == 303
                async with client.http.get(f"{server.url}/noc/budget.csv?week={week}",
                                           cookies={"kt_lang": lang}) as r:
                    assert r.status == 200
                    return await r.text()
            finally:
                await client.close()
        pages = {lang: asyncio.run(page_csv(lang)) for lang in ("en", "id")}
        cfg = NotifySection.model_validate({"timezone": TZ})
        reports = {lang: build_report(storage, noc.sites(), week, cfg, lang)
                   for lang in ("en", "id")}
    finally:
        server.stop()
        noc.close()
        storage.close()
    report = reports["en"]
    assert {s["site"] for s in report["summary"]} == {"kantor-dinas", "taman-kota"}  # with data
    for lang in ("en", "id"):
        csv_text = reports[lang]["attachments"][0]["text"]
        assert csv_text.replace("\r\n", "\n") == pages[lang].replace("\r\n", "\n"), lang
    assert ";" in pages["id"].splitlines()[0] and "," in pages["en"].splitlines()[0]
    kd = next(s for s in report["summary"] if s["site"] == "kantor-dinas")
    assert kd["capacity_mbps"] == 100.0 and kd["kind"] == "office"
    assert f"Kantor Dinas (office): contract 100 Mbps, p95 {kd['p95_mbps']:g} Mbps" in \
        report["text"]
