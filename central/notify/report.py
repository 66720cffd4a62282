"""The weekly budget report: the NOC budget page's figures for one ISO week, as an e-mail.

The rows are exactly ``central.noc.budget.period_report`` over the week (Monday 00:00 to
Monday 00:00 in the report's timezone) and the attachment is exactly the CSV the budget page
serves for ``?week=`` (``central.noc.budget_text.csv_text``), so the report and the page show
equal figures for the same week. Per office and park the text gives the contract, the p95,
the peak and the idle share of hours; a recommendation line for every site the page flags as
used below ``low_use_pct`` % of its contract in each of the last four weeks.
``ReportScheduler`` queues it in the outbox once per week (the week's key is unique), on the
configured weekday and time, on the leader only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from central.clock import wall_ms
from central.noc.budget import period_report, week_bounds, week_of
from central.noc.budget_text import csv_text
from central.notify.catalogue import text
from central.notify.config import NotifySection
from central.notify.outbox import OutboxStore
from central.notify.sender import REPORT_ROUTE
from central.storage.base import Storage

log = logging.getLogger(__name__)
Sites = dict[str, dict[str, Any]]


def summary(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per site with data: contract, p95, peak and idle share (idle hours / hours measured)."""
    out = []
    for r in report["rows"]:
        if r["p95_mbps"] is None:
            continue
        hours = (report["until_ms"] - report["since_ms"]) / 3_600_000 * r["coverage_pct"] / 100
        idle = r["idle_hours"]
        out.append({"site": r["site"], "name": r["name"], "kind": r["kind"],
                    "capacity_mbps": r["capacity_mbps"], "p95_mbps": r["p95_mbps"],
                    "peak_mbps": r["peak_mbps"],
                    "idle_pct": None if idle is None or not hours else round(
                        min(100.0, 100 * idle / hours), 1)})
    return out


def recommendations(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Sites the report flags as underused (below the threshold in each of the last four
    weeks), with a suggested contract: 1.5 x the week's p95, in 5 Mbit/s steps."""
    return [{"site": r["site"], "name": r["name"], "capacity_mbps": r["capacity_mbps"],
             "p95max": r["p95_mbps"],
             "suggest": max(5, 5 * math.ceil(1.5 * (r["p95_mbps"] or 0) / 5))}
            for r in report["rows"] if "underused" in r["flags"]]


def build_report(storage: Storage, sites: Sites, week: str, cfg: NotifySection,
                 lang: str | None = None) -> dict[str, Any]:
    """The report e-mail as an outbox payload: subject, text, the CSV attachment, the rows."""
    lang = lang or cfg.report.lang
    tz = cfg.timezone
    start, end = week_bounds(week, tz)
    # a week still running is cut at now, as the budget page cuts it
    rep = period_report(storage, sites, start, min(end, wall_ms()), cfg.report.low_use_pct)
    fmt = "%Y-%m-%d"
    day = lambda ms: datetime.fromtimestamp(ms / 1000, UTC).astimezone(  # noqa: E731
        ZoneInfo(tz)).strftime(fmt)
    lines = [text(lang, "report_intro", week=week, start=day(start), end=day(end - 1)), ""]
    summ = summary(rep)
    dash = lambda v: "–" if v is None else f"{v:g}"  # noqa: E731
    lines += [text(lang, "report_line", name=s["name"], kind=s["kind"],
                   capacity=dash(s["capacity_mbps"]), p95=dash(s["p95_mbps"]),
                   peak=dash(s["peak_mbps"]), idle=dash(s["idle_pct"]))
              for s in summ] or [text(lang, "report_none")]
    recs = recommendations(rep)
    if recs:
        lines.append("")
        lines += [text(lang, "report_recommend", name=r["name"], p95max=dash(r["p95max"]),
                       capacity=dash(r["capacity_mbps"]), suggest=r["suggest"],
                       threshold=dash(cfg.report.low_use_pct)) for r in recs]
    lines += ["", text(lang, "report_attachment")]
    key = f"kotanet-report-{week}"
    return {"version": 1, "idempotency_key": key, "event": "report", "route": REPORT_ROUTE,
            "lang": lang, "subject": text(lang, "report_subject", week=week),
            "text": "\n".join(lines), "link": f"{cfg.base_url.rstrip('/')}/noc/budget?week={week}",
            "week": week, "rows": rep["rows"], "totals": rep["totals"], "summary": summ, "recommendations": recs,
            "attachments": [{"filename": f"kotanet-budget-{week}.csv",
                             "content_type": "text/csv", "text": csv_text(rep, lang)}]}


def due_week(now_ms: int, cfg: NotifySection) -> str | None:
    """The week whose report is due at now_ms: the week before the latest scheduled moment
    (weekday and time in the timezone), if that moment was within the last day."""
    tz = ZoneInfo(cfg.timezone)
    now = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(tz)
    hh, mm = (int(x) for x in cfg.report.time.split(":"))
    moment = datetime.combine(now.date() - timedelta(days=(now.weekday() - cfg.report.weekday)
                                                     % 7), time(hh, mm), tz)
    if moment > now:
        moment -= timedelta(days=7)
    if now - moment > timedelta(days=1):
        return None
    return week_of(int((moment - timedelta(days=7)).timestamp() * 1000) + 3_600_000,
                   cfg.timezone)


class ReportScheduler:
    """Queues the weekly report once per week on the leader (checks every check_s)."""

    def __init__(self, storage: Storage, sites: Callable[[], Sites], outbox: OutboxStore,
                 cfg: NotifySection, is_leader: Callable[[], bool],
                 wake: Callable[[], None], clock_ms: Callable[[], int] = wall_ms,
                 check_s: float = 60.0) -> None:
        self.storage, self.sites, self.outbox, self.cfg = storage, sites, outbox, cfg
        self.is_leader, self.wake, self.clock_ms, self.check_s = (is_leader, wake, clock_ms,
                                                                  check_s)

    def tick(self) -> str | None:
        """Queue the due week's report if not queued yet; returns the week queued."""
        if not (self.cfg.report.enabled and self.is_leader()):
            return None
        now = self.clock_ms()
        week = due_week(now, self.cfg)
        if week is None or self.outbox.rows(REPORT_ROUTE) and any(
                r["dedup"] == f"kotanet-report-{week}" for r in self.outbox.rows(REPORT_ROUTE)):
            return None
        body = build_report(self.storage, self.sites(), week, self.cfg)
        if self.outbox.add(body["idempotency_key"], REPORT_ROUTE, "report", body, now):
            log.info("weekly budget report %s queued", week)
            self.wake()
            return week
        return None

    async def lifetime(self, _app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: check every check_s for the app's life."""
        async def loop() -> None:
            while True:
                try:
                    await asyncio.to_thread(self.tick)
                except Exception:
                    log.exception("weekly report check failed")
                await asyncio.sleep(self.check_s)
        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
