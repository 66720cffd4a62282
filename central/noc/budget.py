"""Budget report: contracted capacity vs used (p95, peak, idle hours) per site, day and month."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from central.clock import wall_ms
from central.noc.context import NOC
from central.noc.i18n import WIB, t
from central.noc.render import lang_of, page
from central.noc.security import get_session, require
from central.noc.series import iter_samples
from central.storage import Storage
from central.storage.rollup import BUCKET_MS  # 5-minute means, summed over a site's nodes

IDLE_SHARE = 0.10  # an hour whose mean use is below 10 % of the contract counts as idle
FIELDS = ["period", "site", "name", "kind", "capacity_mbps", "p95_mbps", "peak_mbps",
          "idle_hours", "p95_pct"]


def _p95(values: list[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(0.95 * (len(s) - 1))))]


def _period(ms: int, monthly: bool) -> str:
    dt = datetime.fromtimestamp(ms / 1000, UTC).astimezone(WIB)
    return dt.strftime("%Y-%m" if monthly else "%Y-%m-%d")


def compute(storage: Storage, sites: dict[str, dict[str, Any]], days: int, monthly: bool,
            now_ms: int | None = None) -> list[dict[str, Any]]:
    """Rows of FIELDS, one per (period, site), over the last `days` days; blocking.

    Reads the node-level 5-minute rollup (one row per node and bucket, summed per site in
    the database), never the raw samples. The window starts at a whole 5-minute bucket."""
    now_ms = wall_ms() if now_ms is None else now_ms
    since, until = _window(days, now_ms)
    kinds = _kinds(storage)
    site_buckets: dict[str, dict[int, float]] = {}
    for r in storage.site_rx(since, until):
        acc = site_buckets.setdefault(r["site"], {})
        acc[int(r["bucket_ms"]) // BUCKET_MS] = float(r["rx_bps"]) / 1e6
    return _report(site_buckets, kinds, sites, monthly)


def compute_raw(storage: Storage, sites: dict[str, dict[str, Any]], days: int, monthly: bool,
                now_ms: int | None = None) -> list[dict[str, Any]]:
    """compute() from every raw sample (decoded): the reference the rollup is tested against."""
    now_ms = wall_ms() if now_ms is None else now_ms
    since, until = _window(days, now_ms)
    site_buckets: dict[str, dict[int, float]] = {}
    for n in storage.list_nodes():
        per: dict[int, list[float]] = {}
        for row in iter_samples(storage, n["node"], since, until):
            ups = (row.get("data") or {}).get("uplinks") or []
            rates = [u.get("rx_bps") for u in ups if u.get("rx_bps") is not None]
            if rates:
                per.setdefault(row["ts_ms"] // BUCKET_MS, []).append(sum(rates) / 1e6)
        acc = site_buckets.setdefault(n["site"], {})
        for b, vals in per.items():
            acc[b] = acc.get(b, 0.0) + sum(vals) / len(vals)
    return _report(site_buckets, _kinds(storage), sites, monthly)


def _window(days: int, now_ms: int) -> tuple[int, int]:
    since = now_ms - days * 86400_000
    return since - since % BUCKET_MS, now_ms


def _kinds(storage: Storage) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for n in storage.list_nodes():
        kinds.setdefault(n["site"], n.get("role") or "park")
    return kinds


def _report(site_buckets: dict[str, dict[int, float]], kinds: dict[str, str],
            sites: dict[str, dict[str, Any]], monthly: bool) -> list[dict[str, Any]]:
    """Per (period, site): p95, peak and idle hours of the site's 5-minute sums."""
    rows: list[dict[str, Any]] = []
    for site, buckets in sorted(site_buckets.items()):
        meta = sites.get(site, {})
        cap = meta.get("capacity_mbps")
        groups: dict[str, list[tuple[int, float]]] = {}
        for b, v in sorted(buckets.items()):
            groups.setdefault(_period(b * BUCKET_MS, monthly), []).append((b, v))
        for period, items in sorted(groups.items()):
            vals = [v for _, v in items]
            hours: dict[int, list[float]] = {}
            for b, v in items:
                hours.setdefault(b * BUCKET_MS // 3600_000, []).append(v)
            idle = sum(1 for hv in hours.values()
                       if cap and sum(hv) / len(hv) < IDLE_SHARE * cap)
            p95 = _p95(vals)
            rows.append({"period": period, "site": site, "name": meta.get("name") or site,
                         "kind": meta.get("kind") or kinds.get(site, ""), "capacity_mbps": cap,
                         "p95_mbps": round(p95, 2), "peak_mbps": round(max(vals), 2),
                         "idle_hours": idle,
                         "p95_pct": round(100 * p95 / cap, 1) if cap else None})
    return rows


def _params(request: web.Request) -> tuple[int, bool]:
    try:
        days = min(max(int(request.query.get("days", "7")), 1), 62)
    except ValueError:
        raise web.HTTPBadRequest(text="days must be an integer") from None
    return days, request.query.get("period", "day") == "month"


async def _rows(request: web.Request) -> tuple[list[dict[str, Any]], int, bool]:
    noc = request.app[NOC]
    days, monthly = _params(request)
    sites = await asyncio.to_thread(noc.store.sites)
    return await asyncio.to_thread(compute, noc.storage, sites, days, monthly), days, monthly


@require("viewer")
async def budget_page(request: web.Request) -> web.StreamResponse:
    """Per office and park: contract vs p95, peak and idle hours, with a chart and CSV link."""
    sess = await get_session(request)
    lang = lang_of(request)
    rows, days, monthly = await _rows(request)
    return page(request, "budget.html", t(lang, "budget.title"), sess, scripts=["budget.js"],
                styles=["vendor/uplot/uPlot.min.css"], data={"rows": rows}, rows=rows,
                period="month" if monthly else "day", days=days,
                sites=sorted({r["site"] for r in rows}))


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading ' (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


@require("viewer")
async def budget_csv(request: web.Request) -> web.StreamResponse:
    """The budget report as CSV."""
    rows, days, monthly = await _rows(request)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=FIELDS)
    w.writeheader()
    w.writerows({k: csv_cell(v) for k, v in row.items()} for row in rows)
    name = f"kotanet-budget-{'month' if monthly else 'day'}-{days}d.csv"
    return web.Response(text=buf.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
