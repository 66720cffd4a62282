"""The weekly budget report: the NOC budget page's figures for one ISO week, as an e-mail.

The rows are exactly ``central.noc.budget.compute`` (the budget page and its CSV) over the 7
days of the week (Monday 00:00 to Monday 00:00 in the report's timezone), so the report and
the page show equal figures for the same week. Per office and park the text gives the
contract, the highest daily p95, the peak and the idle share of hours; a recommendation line
when the highest daily p95 stayed below ``low_use_pct`` % of the contract in each of the last
four weeks. ``ReportScheduler`` queues it in the outbox once per week (the week's key is
unique), on the configured weekday and time, on the leader only.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from central.clock import wall_ms
from central.noc.budget import FIELDS, compute, csv_cell
from central.notify.catalogue import text
from central.notify.config import NotifySection
from central.notify.outbox import OutboxStore
from central.notify.sender import REPORT_ROUTE
from central.storage.base import Storage

log = logging.getLogger(__name__)
Sites = dict[str, dict[str, Any]]


def week_bounds(week: str, tz: str) -> tuple[int, int]:
    """(start_ms, end_ms) of ISO week 'YYYY-Www' in timezone tz; ValueError if malformed."""
    try:
        year, num = week.split("-W")
        monday = date.fromisocalendar(int(year), int(num), 1)
    except ValueError:
        raise ValueError(f"week must look like 2026-W49, got {week!r}") from None
    start = datetime.combine(monday, time(0), ZoneInfo(tz))
    return int(start.timestamp() * 1000), int((start + timedelta(days=7)).timestamp() * 1000)


def week_of(ms: int, tz: str) -> str:
    """The ISO week 'YYYY-Www' that contains ms in timezone tz."""
    y, w, _ = datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(tz)).isocalendar()
    return f"{y}-W{w:02d}"


def rows_for_week(storage: Storage, sites: Sites, week: str, tz: str) -> list[dict[str, Any]]:
    """The budget page's rows (days=7, per day) for the week."""
    _, end = week_bounds(week, tz)
    return compute(storage, sites, 7, False, now_ms=end)


def to_csv(rows: list[dict[str, Any]]) -> str:
    """The rows as the budget page's CSV (same columns, same CSV-injection guard)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS)
    w.writeheader()
    w.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    return buf.getvalue()


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per site: contract, highest daily p95, peak, idle share (idle hours / 24 h days)."""
    per: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        per.setdefault(r["site"], []).append(r)
    out = []
    for site, rs in sorted(per.items()):
        out.append({"site": site, "name": rs[0]["name"], "kind": rs[0]["kind"],
                    "capacity_mbps": rs[0]["capacity_mbps"],
                    "p95_mbps": max(r["p95_mbps"] for r in rs),
                    "peak_mbps": max(r["peak_mbps"] for r in rs),
                    "idle_pct": round(100 * sum(r["idle_hours"] for r in rs) / (24 * len(rs)),
                                      1)})
    return out


def recommendations(storage: Storage, sites: Sites, week: str, tz: str,
                    low_use_pct: float) -> list[dict[str, Any]]:
    """Sites whose highest daily p95 stayed below low_use_pct % of the contract in each of
    the four weeks ending with ``week``, with a suggested contract (1.5 x that p95, 5 Mbps
    steps)."""
    start, _ = week_bounds(week, tz)
    weeks = [week_of(start - k * 7 * 86_400_000 + 3_600_000, tz) for k in range(4)]
    per_week = [{s["site"]: s for s in summary(rows_for_week(storage, sites, w, tz))}
                for w in weeks]
    out = []
    for site, s in sorted(per_week[0].items()):
        cap = s["capacity_mbps"]
        if not cap or not all(site in pw for pw in per_week):
            continue
        p95max = max(pw[site]["p95_mbps"] for pw in per_week)
        if p95max < low_use_pct / 100 * cap:
            out.append({**s, "p95max": p95max,
                        "suggest": max(5, 5 * math.ceil(1.5 * p95max / 5))})
    return out


def build_report(storage: Storage, sites: Sites, week: str, cfg: NotifySection,
                 lang: str | None = None) -> dict[str, Any]:
    """The report e-mail as an outbox payload: subject, text, the CSV attachment, the rows."""
    lang = lang or cfg.report.lang
    tz = cfg.timezone
    rows = rows_for_week(storage, sites, week, tz)
    start, end = week_bounds(week, tz)
    fmt = "%Y-%m-%d"
    day = lambda ms: datetime.fromtimestamp(ms / 1000, UTC).astimezone(  # noqa: E731
        ZoneInfo(tz)).strftime(fmt)
    lines = [text(lang, "report_intro", week=week, start=day(start), end=day(end - 1)), ""]
    summ = summary(rows)
    lines += [text(lang, "report_line", name=s["name"], kind=s["kind"],
                   capacity=s["capacity_mbps"], p95=s["p95_mbps"], peak=s["peak_mbps"],
                   idle=s["idle_pct"]) for s in summ] or [text(lang, "report_none")]
    recs = recommendations(storage, sites, week, tz, cfg.report.low_use_pct)
    if recs:
        lines.append("")
        lines += [text(lang, "report_recommend", name=r["name"], p95max=r["p95max"],
                       capacity=r["capacity_mbps"], suggest=r["suggest"]) for r in recs]
    lines += ["", text(lang, "report_attachment")]
    key = f"kotanet-report-{week}"
    return {"version": 1, "idempotency_key": key, "event": "report", "route": REPORT_ROUTE,
            "lang": lang, "subject": text(lang, "report_subject", week=week),
            "text": "\n".join(lines), "link": f"{cfg.base_url.rstrip('/')}/noc/budget",
            "week": week, "rows": rows, "summary": summ, "recommendations": recs,
            "attachments": [{"filename": f"kotanet-budget-{week}.csv",
                             "content_type": "text/csv", "text": to_csv(rows)}]}


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
