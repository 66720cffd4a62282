"""The budget page and its CSV: which sites pay for more than they use (``budget.py``
computes, ``budget_text.py`` formats page cells and CSV alike).

The period is a WIB calendar month (``?month=2026-11``, default this month) or an ISO week
(``?week=2026-W49``, the weekly e-mail report's period: same figures, same CSV).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from central.clock import wall_ms
from central.noc import budget
from central.noc.budget_text import COLUMNS, cells, csv_text
from central.noc.context import NOC
from central.noc.i18n import NumberError, num, parse_num, t, wib
from central.noc.render import lang_of, page
from central.noc.security import get_session, require


class ThresholdError(ValueError):
    """A threshold that is not a number in (0, 100]; the message is in the user's language."""


def _window(request: web.Request) -> tuple[int, int, str]:
    """(since, until, label) of the request's ISO week or month; ValueError if malformed."""
    month = request.query.get("month") or None
    week = request.query.get("week") or (month if month and "-W" in month else None)
    if week:
        since, until = budget.week_bounds(week)
        return since, min(until, wall_ms()), week
    return budget.month_window(month)


def _query(request: web.Request) -> tuple[int, int, str, float]:
    """(since, until, month, threshold %) of the request; 400 with a translated reason for a
    bad month, ThresholdError for a bad threshold."""
    lang = lang_of(request)
    try:
        since, until, month = _window(request)
    except ValueError:
        raise web.HTTPBadRequest(text=t(lang, "budget.bad_month")) from None
    raw = request.query.get("threshold", "").strip()
    threshold = budget.UNDERUSE_PCT
    if raw:
        try:
            threshold = parse_num(raw)
        except NumberError:
            threshold = -1.0
        if not 0 < threshold <= 100:
            raise ThresholdError(t(lang, "budget.bad_threshold", value=raw))
    return since, until, month, threshold


async def _report(request: web.Request, threshold_error: bool = False
                  ) -> tuple[dict[str, Any], str, str]:
    """The report of the request's month; a bad threshold is a 400 unless threshold_error
    (then the default threshold and the reason, for the page to show beside the form)."""
    noc = request.app[NOC]
    error = ""
    try:
        since, until, month, threshold = _query(request)
    except ThresholdError as exc:
        if not threshold_error:
            raise web.HTTPBadRequest(text=str(exc)) from None
        error = str(exc)
        since, until, month = _window(request)
        threshold = budget.UNDERUSE_PCT
    sites = await asyncio.to_thread(noc.store.sites)
    rep = await asyncio.to_thread(budget.period_report, noc.storage, sites, since, until,
                                  threshold)
    return rep, month, error


@require("viewer")
async def budget_page(request: web.Request) -> web.StreamResponse:
    """One row per site over a month, sorted by waste; totals, flags, a daily chart, CSV link."""
    sess = await get_session(request)
    lang = lang_of(request)
    rep, month, error = await _report(request, threshold_error=True)
    rows = [{"raw": r, "text": cells(r, lang)} for r in rep["rows"]]
    totals = {k: num(v, lang, budget.DECIMALS[k]) for k, v in rep["totals"].items()
              if k in budget.DECIMALS}
    chart = {r["site"]: {"name": r["name"], "capacity_mbps": r["capacity_mbps"],
                         "days": rep["daily"].get(r["site"], [])} for r in rep["rows"]}
    months = budget.recent_months()
    if month not in months:
        months.append(month)
    labels = t(lang, "fmt.months").split()
    return page(request, "budget.html", t(lang, "budget.title"), sess, scripts=["budget.js"],
                styles=["vendor/uplot/uPlot.min.css"], data={"chart": chart}, rows=rows,
                columns=COLUMNS, totals=totals, month=month,
                months=[(m, m if "W" in m else f"{labels[int(m[5:]) - 1]} {m[:4]}")
                        for m in months],
                threshold=num(rep["threshold_pct"], lang, 0 if rep["threshold_pct"] % 1 == 0
                              else 1, False),
                typed=request.query.get("threshold", "") if error else None, error=error,
                status=400 if error else 200,
                underused=rep["totals"]["unused_sites"],
                since=wib(rep["since_ms"], lang=lang), until=wib(rep["until_ms"], lang=lang),
                weeks=budget.UNDERUSE_WEEKS, idle_pct=round(budget.IDLE_SHARE * 100),
                near_full=round(budget.NEAR_FULL_PCT),
                csv_query=request.query_string)


@require("viewer")
async def budget_csv(request: web.Request) -> web.StreamResponse:
    """The budget page's table as CSV, in the request's language (same values as the page)."""
    lang = lang_of(request)
    rep, month, _ = await _report(request)
    name = f"kotanet-{t(lang, 'budget.file')}-{month}.csv"
    return web.Response(text=csv_text(rep, lang), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
