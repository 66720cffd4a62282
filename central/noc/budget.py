"""Budget computation: contracted capacity vs use per site (p95, peak, idle hours, waste, cost).

The one place the budget is computed: the NOC's budget page and CSV (``views_budget.py``)
and any report (e.g. a weekly e-mail) call ``period_report`` (one row per site over a
period, sorted by waste, with flags) or ``compute`` (one row per site and day or month).
Every value is rounded here, once; callers only format it (``i18n.num``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from central.clock import wall_ms
from central.noc.i18n import WIB
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



# ---------------------------------------------------------------- one row per site over a period
UNDERUSE_PCT = 20.0  # default: a contract whose weekly p95 stays below 20 % of it ...
UNDERUSE_WEEKS = 4  # ... in each of the four weeks ending with the period is flagged
NEAR_FULL_PCT = 90.0  # p95 at or above 90 % of the contract: flagged as nearly full
WEEK_MS = 7 * 86400_000
#: The columns of a period report row, in order (the page, the CSV and any report).
REPORT_FIELDS = ["site", "name", "kind", "capacity_mbps", "p95_mbps", "peak_mbps", "use_pct",
                 "waste_mbps", "volume_gb", "idle_hours", "coverage_pct", "cost_month",
                 "unused_cost_month", "flags"]
#: Decimals of each numeric column (the rounding done here and the format of page and CSV).
DECIMALS = {"capacity_mbps": 1, "p95_mbps": 1, "peak_mbps": 1, "use_pct": 0, "waste_mbps": 1,
            "volume_gb": 1, "idle_hours": 0, "coverage_pct": 0, "cost_month": 0,
            "unused_cost_month": 0}
#: Columns summed in the totals row.
TOTALS = ("capacity_mbps", "waste_mbps", "volume_gb", "cost_month", "unused_cost_month")
FLAGS = ("underused", "near_full", "no_data", "no_contract")


def month_window(month: str | None, now_ms: int | None = None) -> tuple[int, int, str]:
    """(since_ms, until_ms, 'YYYY-MM') of a calendar month in WIB, cut at now; None = this
    month. ValueError for a malformed month or one that has not begun."""
    now_ms = wall_ms() if now_ms is None else now_ms
    if month is None:
        month = datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(WIB).strftime("%Y-%m")
    try:
        year, mon = (int(p) for p in month.split("-"))
        start = datetime(year, mon, 1, tzinfo=WIB)
    except ValueError:
        raise ValueError(f"month {month!r}: expected YYYY-MM") from None
    end = datetime(year + mon // 12, mon % 12 + 1, 1, tzinfo=WIB)
    since, until = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    if since >= now_ms:
        raise ValueError(f"month {month!r} has not begun")
    return since, min(until, now_ms), f"{year:04d}-{mon:02d}"


def week_bounds(week: str, tz: str = "Asia/Jakarta") -> tuple[int, int]:
    """(since_ms, until_ms) of ISO week 'YYYY-Www', Monday 00:00 to Monday 00:00 in ``tz``
    (WIB by default); ValueError if malformed."""
    try:
        year, num = week.split("-W")
        monday = date.fromisocalendar(int(year), int(num), 1)
    except ValueError:
        raise ValueError(f"week must look like 2026-W49, got {week!r}") from None
    start = datetime.combine(monday, time(0), ZoneInfo(tz))
    return int(start.timestamp() * 1000), int((start + timedelta(days=7)).timestamp() * 1000)


def week_of(ms: int, tz: str = "Asia/Jakarta") -> str:
    """The ISO week 'YYYY-Www' that contains ``ms`` in ``tz``."""
    y, w, _ = datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(tz)).isocalendar()
    return f"{y}-W{w:02d}"


def recent_months(now_ms: int | None = None, count: int = 3) -> list[str]:
    """The current WIB month and the ones before it, newest first ('YYYY-MM')."""
    now = datetime.fromtimestamp((wall_ms() if now_ms is None else now_ms) / 1000, UTC)
    y, m = now.astimezone(WIB).year, now.astimezone(WIB).month
    out = []
    for _ in range(count):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
    return out


def _buckets(storage: Storage, since: int, until: int) -> dict[str, dict[int, float]]:
    """Per site, its 5-minute buckets (index) -> Mbit/s (sum over the site's nodes)."""
    out: dict[str, dict[int, float]] = {}
    for r in storage.site_rx(since - since % BUCKET_MS, until):
        out.setdefault(r["site"], {})[int(r["bucket_ms"]) // BUCKET_MS] = float(r["rx_bps"]) / 1e6
    return out


def _site_row(site: str, meta: dict[str, Any], kind: str, vals: dict[int, float],
              n_buckets: int, weeks: list[list[float]], threshold_pct: float) -> dict[str, Any]:
    cap = meta.get("capacity_mbps") or None
    cost = meta.get("cost_month")
    row: dict[str, Any] = dict.fromkeys(REPORT_FIELDS)
    row.update(site=site, name=meta.get("name") or site, kind=meta.get("kind") or kind,
               capacity_mbps=None if cap is None else round(float(cap), 1),
               cost_month=None if cost is None else round(float(cost)),
               coverage_pct=round(100 * len(vals) / n_buckets) if n_buckets else 0, flags=[])
    if vals:
        series = list(vals.values())
        hours: dict[int, list[float]] = {}
        for b, v in vals.items():
            hours.setdefault(b * BUCKET_MS // 3600_000, []).append(v)
        row.update(p95_mbps=round(_p95(series), 1), peak_mbps=round(max(series), 1),
                   volume_gb=round(sum(series) * BUCKET_MS / 1000 / 8 / 1000, 1),
                   idle_hours=sum(1 for hv in hours.values()
                                  if cap and sum(hv) / len(hv) < IDLE_SHARE * cap) if cap else None)
    if cap is None:
        row["flags"].append("no_contract")
    elif not vals:
        row["flags"].append("no_data")
    else:
        row["waste_mbps"] = round(row["capacity_mbps"] - row["p95_mbps"], 1)
        row["use_pct"] = round(100 * row["p95_mbps"] / row["capacity_mbps"])
        if row["cost_month"] is not None:
            row["unused_cost_month"] = round(
                row["cost_month"] * max(0.0, row["waste_mbps"]) / row["capacity_mbps"])
        if all(w and _p95(w) < threshold_pct / 100 * cap for w in weeks):
            row["flags"].insert(0, "underused")
        if row["use_pct"] >= NEAR_FULL_PCT:
            row["flags"].append("near_full")
    return row


def period_report(storage: Storage, sites: dict[str, dict[str, Any]], since_ms: int,
                  until_ms: int, threshold_pct: float = UNDERUSE_PCT) -> dict[str, Any]:
    """One row per site over [since, until) sorted by waste (contract minus p95, largest
    first; sites without a contract or data last), with totals and flags; blocking.

    A site is flagged ``underused`` when in each of the four weeks ending at ``until`` it
    has data and the p95 of its 5-minute sums stays below ``threshold_pct`` of its contract.
    ``daily`` holds each site's p95 per WIB day (the page's chart). Sites: every site with
    metadata (``NocStore.sites()``: name, kind, capacity_mbps, cost_month) or data."""
    since_ms -= since_ms % BUCKET_MS
    flag_since = until_ms - UNDERUSE_WEEKS * WEEK_MS
    data = _buckets(storage, min(since_ms, flag_since), until_ms)
    kinds = _kinds(storage)
    lo, hi = since_ms // BUCKET_MS, -(-until_ms // BUCKET_MS)
    rows, daily = [], {}
    for site in sorted(set(sites) | set(data)):
        buckets = data.get(site, {})
        vals = {b: v for b, v in buckets.items() if lo <= b < hi}
        weeks: list[list[float]] = [[] for _ in range(UNDERUSE_WEEKS)]
        for b, v in buckets.items():
            w = (b * BUCKET_MS - flag_since) // WEEK_MS
            if 0 <= w < UNDERUSE_WEEKS:
                weeks[int(w)].append(v)
        rows.append(_site_row(site, sites.get(site, {}), kinds.get(site, ""), vals, hi - lo,
                              weeks, threshold_pct))
        days: dict[str, list[float]] = {}
        for b, v in sorted(vals.items()):
            days.setdefault(_period(b * BUCKET_MS, False), []).append(v)
        daily[site] = [{"day": d, "p95_mbps": round(_p95(v), 1)} for d, v in days.items()]
    rows.sort(key=lambda r: (r["waste_mbps"] is None, -(r["waste_mbps"] or 0), r["name"]))
    totals = {k: round(sum(r[k] for r in rows if r[k] is not None), DECIMALS[k]) for k in TOTALS}
    totals["unused_sites"] = sum(1 for r in rows if "underused" in r["flags"])
    return {"since_ms": since_ms, "until_ms": until_ms, "threshold_pct": threshold_pct,
            "rows": rows, "totals": totals, "daily": daily}


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading ' (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
