"""The budget page and its CSV: which sites pay for more than they use (``budget.py`` computes).

Page and CSV show the same rounded values through one formatter (``cells``): only the
thousands separator differs (the CSV has none). In Indonesian the CSV uses ';' between cells
and a decimal comma (what a spreadsheet set to Indonesian reads), with Indonesian headers.
"""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

from aiohttp import web

from central.noc import budget
from central.noc.context import NOC
from central.noc.i18n import NumberError, num, parse_num, t, wib
from central.noc.render import lang_of, page
from central.noc.security import get_session, require

#: The columns of the page and the CSV (each explained under the table: budget.help.<col>).
#: The answer first (waste, use, what it costs), then the figures behind it.
COLUMNS = ["name", "waste_mbps", "use_pct", "capacity_mbps", "p95_mbps", "unused_cost_month",
           "cost_month", "flags", "peak_mbps", "volume_gb", "idle_hours", "coverage_pct", "kind"]


def cells(row: dict[str, Any], lang: str, group: bool = True) -> dict[str, str]:
    """A report row as the text of each column, in a language (the page's and the CSV's)."""
    out: dict[str, str] = {}
    for col in COLUMNS:
        value = row.get(col)
        if col in budget.DECIMALS:
            out[col] = "" if value is None and not group else num(
                value, lang, budget.DECIMALS[col], group)
        elif col == "kind":
            out[col] = t(lang, f"role.{value}") if value in ("park", "office") else str(value or "")
        elif col == "flags":
            out[col] = ", ".join(t(lang, f"budget.flag.{f}") for f in value or [])
        else:
            out[col] = str(value or "")
    return out


class ThresholdError(ValueError):
    """A threshold that is not a number in (0, 100]; the message is in the user's language."""


def _query(request: web.Request) -> tuple[int, int, str, float]:
    """(since, until, month, threshold %) of the request; 400 with a translated reason for a
    bad month, ThresholdError for a bad threshold."""
    lang = lang_of(request)
    try:
        since, until, month = budget.month_window(request.query.get("month") or None)
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
        since, until, month = budget.month_window(request.query.get("month") or None)
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
                months=[(m, f"{labels[int(m[5:]) - 1]} {m[:4]}") for m in months],
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
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";" if lang == "id" else ",")
    w.writerow([t(lang, f"budget.col.{c}") for c in COLUMNS])
    for r in rep["rows"]:
        text = cells(r, lang, group=False)
        w.writerow([budget.csv_cell(text[c]) if c in ("name", "kind", "flags") else text[c]
                    for c in COLUMNS])
    name = f"kotanet-{t(lang, 'budget.file')}-{month}.csv"
    return web.Response(text=buf.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
