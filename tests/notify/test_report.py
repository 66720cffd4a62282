"""The weekly budget report: the NOC budget page's figures for the week, a recommendation
after four weeks of low use, and the e-mail with the CSV attached arriving over STARTTLS."""

from __future__ import annotations

import asyncio
import csv
import email
import io
import sys
from pathlib import Path

from central.noc import budget
from central.noc.budget_text import csv_text
from central.notify.config import NotifySection
from central.notify.outbox import OutboxStore
from central.notify.report import ReportScheduler, build_report, due_week, week_bounds
from central.notify.sender import REPORT_ROUTE, Sender
from central.storage import Incoming
from protocol.messages import Tele

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "noc"))
from noc_helpers import fill, open_db, sample

from tests.notify.receivers import smtp_server

TZ = "Asia/Jakarta"
WEEK = "2026-W45"
SITES = {"kantor-dinas": {"name": "Kantor Dinas", "kind": "office", "capacity_mbps": 100},
         "taman-kota": {"name": "Taman Kota", "kind": "park", "capacity_mbps": 20}}


def filled(path: Path) -> object:
    storage = open_db(path)
    _, end = week_bounds(WEEK, TZ)
    start = end - 28 * 86_400_000  # four weeks of traffic
    fill(storage, [("kd-01", "kantor-dinas"), ("tk-01", "taman-kota")], samples_per_node=0,
         now_ms=end)
    for node, site, rx in (("kd-01", "kantor-dinas", 8e6), ("tk-01", "taman-kota", 15e6)):
        seq = 1
        for chunk in range(0, 28 * 144, 400):  # one sample per 10 minutes
            smp = []
            for i in range(chunk, min(chunk + 400, 28 * 144)):
                busy = (i % 144) in range(60, 100)  # afternoons busier
                smp.append(sample(seq, start + i * 600_000, rx_bps=rx * (2 if busy else 1)))
                seq += 1
            storage.write([Incoming(site, node, Tele.model_validate(
                {"site": site, "node": node, "ts_ms": end, "session": 1, "seq": smp[0]["seq"],
                 "samples": smp}), end)])
    return storage


def report_cfg(tmp: Path, port: int = 1, cert: Path | None = None) -> NotifySection:
    return NotifySection.model_validate({
        "timezone": TZ, "channels": [{"id": "mail", "type": "email", "host": "127.0.0.1",
                                      "port": port, "from_addr": "kotanet@example.test",
                                      "ca_file": str(cert) if cert else None}],
        "report": {"enabled": True, "channel": "mail", "to": ["kepala@example.test"],
                   "lang": "en", "low_use_pct": 40}})


def test_report_figures_equal_the_budget_page_and_recommend_after_four_low_weeks(
        tmp_path: Path) -> None:
    storage = filled(tmp_path / "c.db")
    try:
        cfg = report_cfg(tmp_path)
        body = build_report(storage, SITES, WEEK, cfg)  # type: ignore[arg-type]
        start, end = week_bounds(WEEK, TZ)
        page = budget.period_report(storage, SITES, start, end, 40)  # type: ignore[arg-type]
    finally:
        storage.close()  # type: ignore[attr-defined]
    assert body["rows"] == page["rows"] and len(page["rows"]) == 2  # one row per site
    assert body["attachments"][0]["text"] == csv_text(page, "en")
    kd = next(s for s in body["summary"] if s["site"] == "kantor-dinas")
    # busy afternoons (40 of 144 ten-minute slots a day) at 16 Mbit/s: p95 and peak are 16
    assert (kd["p95_mbps"], kd["peak_mbps"]) == (16.0, 16.0)
    # the office used 16 of 100 Mbit/s (below 40 %) for four weeks: recommend ~25 (1.5 x 16);
    # the park (30 of 20 Mbit/s at its busiest) is not
    assert [(r["site"], r["suggest"]) for r in body["recommendations"]] == [("kantor-dinas", 25)]
    assert "consider a contract of about 25 Mbps" in body["text"]
    assert "Kantor Dinas (office): contract 100 Mbps" in body["text"]


def test_weekly_report_arrives_by_smtp_with_the_csv_attached(tmp_path: Path) -> None:
    storage = filled(tmp_path / "c.db")
    ctl, box, cert, port = smtp_server(tmp_path)
    try:
        cfg = report_cfg(tmp_path, port, cert)
        # Monday 07:00 WIB after the week: the W45 report is due
        monday = week_bounds("2026-W46", TZ)[0] + 7 * 3_600_000
        assert due_week(monday + 60_000, cfg) == WEEK
        assert due_week(monday - 60_000, cfg) is None  # not yet: last week's was a week ago
        body = build_report(storage, SITES, WEEK, cfg)  # type: ignore[arg-type]
        outbox = OutboxStore(tmp_path / "state.db")
        assert outbox.add(body["idempotency_key"], REPORT_ROUTE, "report", body, monday)
        assert not outbox.add(body["idempotency_key"], REPORT_ROUTE, "report", body, monday)
        sender = Sender(outbox, cfg, "c1", clock_ms=lambda: monday + 60_000)
        assert asyncio.run(sender.drain()) == 1
        outbox.close()
    finally:
        ctl.stop()
        storage.close()  # type: ignore[attr-defined]
    assert len(box.mails) == 1
    raw, tls, rcpt = box.mails[0]
    assert tls and rcpt == ["kepala@example.test"]
    mail = email.message_from_bytes(raw)
    assert mail["Subject"] == "kotanet weekly budget report 2026-W45"
    parts = {p.get_filename(): p for p in mail.walk() if p.get_filename()}
    att = parts["kotanet-budget-2026-W45.csv"].get_payload(decode=True)
    assert att.decode() == body["attachments"][0]["text"]
    rows = list(csv.DictReader(io.StringIO(att.decode())))
    assert [r["Site"] for r in rows] == ["Kantor Dinas", "Taman Kota"]


def test_scheduler_queues_each_week_once_on_the_leader_only(tmp_path: Path) -> None:
    storage = filled(tmp_path / "c.db")
    outbox = OutboxStore(tmp_path / "state.db")
    try:
        cfg = report_cfg(tmp_path)
        monday = week_bounds("2026-W46", TZ)[0] + 7 * 3_600_000
        now = [monday - 60_000]
        leader = [False]
        woken: list[int] = []
        sched = ReportScheduler(storage, lambda: SITES, outbox, cfg,  # type: ignore[arg-type]
                                lambda: leader[0], lambda: woken.append(1),
                                clock_ms=lambda: now[0])
        assert sched.tick() is None  # 06:59: not due yet
        now[0] = monday + 60_000
        assert sched.tick() is None  # due, but this instance does not lead
        leader[0] = True
        assert sched.tick() == WEEK and woken == [1]
        now[0] += 3_600_000
        assert sched.tick() is None  # already queued: a restart or re-check sends no second
        rows = outbox.rows(REPORT_ROUTE)
        assert [(r["dedup"], r["status"]) for r in rows] == [("kotanet-report-2026-W45",
                                                               "pending")]
        assert rows[0]["payload"]["attachments"][0]["filename"] == "kotanet-budget-2026-W45.csv"
    finally:
        outbox.close()
        storage.close()  # type: ignore[attr-defined]
