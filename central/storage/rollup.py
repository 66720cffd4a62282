"""5-minute rollup of samples, maintained at insert time: what the NOC charts and budget read.

One row per (node, uplink, bucket_ms) with uplink '' = the node-level row. Every column is
additive (counts, sums) or a maximum/minimum, so any set of samples can be merged into a
bucket by ``n = n + excluded.n`` / ``x_max = max(x_max, excluded.x_max)``: batches of several
collectors, re-aggregation to a chart's coarser buckets, and the one-time backfill all use the
same merge. Only samples the INSERT really stored are rolled up (idempotent on (node, seq)).

Node-level columns: ``n`` samples, ``users_sum/users_n/users_max`` (users.total),
``rx_sum/tx_sum`` (per sample the sum over uplinks of rx_bps/tx_bps, a missing rate as 0)
with ``rate_n`` samples that had any rx or tx rate (the chart's mean) and ``rx_n`` samples
that had an rx rate (the budget's mean), ``shape_down_max/shape_up_max`` (kbps, non-zero
limits only). Uplink rows: ``n`` samples listing the uplink, ``first_key`` = ts_ms * 64 +
position in the uplink list of the earliest sample listing it (MIN-merged: the chart lists
uplinks in order of first appearance), ``rtt_sum/rtt_n``, ``loss_sum/loss_n``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from protocol.messages import Sample

BUCKET_MS = 300_000
# How far back a one-time backfill of an existing database reaches: the longest window any
# reader asks for (budget: 62 days). Older samples stay raw only.
BACKFILL_DAYS = 62
BACKFILL_PAGE = 5000

KEY = ("node", "uplink", "bucket_ms")
SUMS = ("n", "rtt_sum", "rtt_n", "loss_sum", "loss_n", "users_sum", "users_n",
        "rx_sum", "tx_sum", "rate_n", "rx_n")
MAXES = ("users_max", "shape_down_max", "shape_up_max")
MINS = ("first_key",)
COLUMNS = KEY + SUMS + MAXES + MINS
_I = {name: i for i, name in enumerate(COLUMNS)}
_N, _FIRST, _RTT_SUM, _RTT_N, _LOSS_SUM, _LOSS_N = (
    _I[c] for c in ("n", "first_key", "rtt_sum", "rtt_n", "loss_sum", "loss_n"))
_RX_SUM, _TX_SUM, _RATE_N, _RX_N, _USERS_SUM, _USERS_N = (
    _I[c] for c in ("rx_sum", "tx_sum", "rate_n", "rx_n", "users_sum", "users_n"))
_USERS_MAX, _DOWN_MAX, _UP_MAX = (_I[c] for c in MAXES)

# (name, rtt_ms, loss_pct, rx_bps, tx_bps) of one uplink in one sample
Uplink = tuple[str, float | None, float | None, float | None, float | None]


def _new(node: str, uplink: str, bucket: int, first_key: int) -> list[Any]:
    row: list[Any] = [node, uplink, bucket] + [0] * len(SUMS) + [None] * len(MAXES) + [first_key]
    for name in ("rtt_sum", "loss_sum", "users_sum", "rx_sum", "tx_sum"):
        row[_I[name]] = 0.0
    return row


def _max(a: Any, b: Any) -> Any:
    return b if a is None else a if b is None else max(a, b)


class Rollup:
    """Accumulates samples into rollup rows (in memory), ready for the merging upsert."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, int], list[Any]] = {}

    def _row(self, node: str, uplink: str, bucket: int, first_key: int) -> list[Any]:
        row = self.rows.get((node, uplink, bucket))
        if row is None:
            row = self.rows[(node, uplink, bucket)] = _new(node, uplink, bucket, first_key)
        return row

    def add(self, node: str, ts_ms: int, uplinks: Iterable[Uplink], users: int | None,
            shape_down_kbps: int | None, shape_up_kbps: int | None) -> None:
        """One stored sample."""
        bucket = ts_ms - ts_ms % BUCKET_MS
        top = self._row(node, "", bucket, ts_ms * 64)
        top[_I["n"]] += 1
        top[_I["first_key"]] = min(top[_I["first_key"]], ts_ms * 64)
        rx = tx = 0.0
        have_rate = have_rx = False
        for pos, (name, rtt, loss, rx_bps, tx_bps) in enumerate(uplinks):
            key = ts_ms * 64 + min(pos, 63)
            up = self._row(node, name, bucket, key)
            up[_I["n"]] += 1
            up[_I["first_key"]] = min(up[_I["first_key"]], key)
            if rtt is not None:
                up[_I["rtt_sum"]] += float(rtt)
                up[_I["rtt_n"]] += 1
            if loss is not None:
                up[_I["loss_sum"]] += float(loss)
                up[_I["loss_n"]] += 1
            if rx_bps is not None or tx_bps is not None:
                have_rate = True
                rx += float(rx_bps or 0)
                tx += float(tx_bps or 0)
            have_rx = have_rx or rx_bps is not None
        if have_rate:
            top[_I["rx_sum"]] += rx
            top[_I["tx_sum"]] += tx
            top[_I["rate_n"]] += 1
        if have_rx:
            top[_I["rx_n"]] += 1
        if users is not None:
            top[_I["users_sum"]] += float(users)
            top[_I["users_n"]] += 1
            top[_I["users_max"]] = _max(top[_I["users_max"]], int(users))
        if shape_down_kbps:
            top[_I["shape_down_max"]] = _max(top[_I["shape_down_max"]], int(shape_down_kbps))
        if shape_up_kbps:
            top[_I["shape_up_max"]] = _max(top[_I["shape_up_max"]], int(shape_up_kbps))

    def add_sample(self, node: str, s: Sample) -> None:
        """A sample as the collector decoded it."""
        self.fold(node, (s,))

    def fold(self, node: str, samples: Iterable[Sample]) -> None:
        """Samples of one node as the collector decoded them, folded bucket by bucket: the
        same sums as ``add`` per sample, with the bucket's rows looked up once per bucket."""
        bucket = -1
        top: list[Any] = []
        ups: dict[str, list[Any]] = {}
        for s in samples:
            ts = s.ts_ms
            key0 = ts * 64
            if ts - ts % BUCKET_MS != bucket:
                bucket = ts - ts % BUCKET_MS
                top, ups = self._row(node, "", bucket, key0), {}
            top[_N] += 1
            if key0 < top[_FIRST]:
                top[_FIRST] = key0
            rx = tx = 0.0
            have_rate = have_rx = False
            for pos, u in enumerate(s.uplinks):
                key = key0 + (pos if pos < 63 else 63)
                up = ups.get(u["name"])
                if up is None:
                    up = ups[u["name"]] = self._row(node, u["name"], bucket, key)
                up[_N] += 1
                if key < up[_FIRST]:
                    up[_FIRST] = key
                if u["rtt_ms"] is not None:
                    up[_RTT_SUM] += float(u["rtt_ms"])
                    up[_RTT_N] += 1
                if u["loss_pct"] is not None:
                    up[_LOSS_SUM] += float(u["loss_pct"])
                    up[_LOSS_N] += 1
                if u["rx_bps"] is not None:
                    have_rate = have_rx = True
                    rx += float(u["rx_bps"])
                if u["tx_bps"] is not None:
                    have_rate = True
                    tx += float(u["tx_bps"])
            if have_rate:
                top[_RX_SUM] += rx
                top[_TX_SUM] += tx
                top[_RATE_N] += 1
            if have_rx:
                top[_RX_N] += 1
            users = s.users.total
            if users is not None:
                top[_USERS_SUM] += float(users)
                top[_USERS_N] += 1
                top[_USERS_MAX] = _max(top[_USERS_MAX], int(users))
            sh = s.shaping
            if sh is not None:
                if sh.down_kbps:
                    top[_DOWN_MAX] = _max(top[_DOWN_MAX], int(sh.down_kbps))
                if sh.up_kbps:
                    top[_UP_MAX] = _max(top[_UP_MAX], int(sh.up_kbps))

    def add_stored(self, node: str, ts_ms: int, data: Mapping[str, Any] | str) -> None:
        """A stored sample (its JSON ``data`` column, text or already decoded)."""
        d: Mapping[str, Any] = json.loads(data) if isinstance(data, str) else data
        ups = [(u.get("name"), u.get("rtt_ms"), u.get("loss_pct"), u.get("rx_bps"),
                u.get("tx_bps")) for u in d.get("uplinks") or []]
        sh = d.get("shaping") or {}
        self.add(node, ts_ms, ups, (d.get("users") or {}).get("total"),
                 sh.get("down_kbps"), sh.get("up_kbps"))

    def params(self) -> list[tuple[Any, ...]]:
        """Rows in key order (one lock order for every writer), in COLUMNS order."""
        return [tuple(self.rows[k]) for k in sorted(self.rows)]


def upsert_sql(placeholder: str, greatest: str, least: str) -> str:
    """The merging INSERT ... ON CONFLICT DO UPDATE for one rollup row."""
    t = "rollup_5m"
    sets = [f"{c} = {t}.{c} + excluded.{c}" for c in SUMS]
    if greatest == "MAX":  # SQLite's scalar max() is NULL if an argument is NULL
        sets += [f"{c} = COALESCE(MAX({t}.{c}, excluded.{c}), {t}.{c}, excluded.{c})"
                 for c in MAXES]
    else:  # PostgreSQL's GREATEST ignores NULLs
        sets += [f"{c} = {greatest}({t}.{c}, excluded.{c})" for c in MAXES]
    sets += [f"{c} = {least}({t}.{c}, excluded.{c})" for c in MINS]
    return (f"INSERT INTO {t} ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join([placeholder] * len(COLUMNS))}) "
            f"ON CONFLICT ({', '.join(KEY)}) DO UPDATE SET {', '.join(sets)}")


def series_sql(param: Callable[[str], str], cast: str = "") -> str:
    """Rollup rows of one node re-aggregated to chart buckets: k = (bucket_ms - since) / bucket.

    ``param(name)`` spells a named parameter; ``cast`` is appended to integer sums
    (PostgreSQL's SUM(bigint) is numeric)."""
    since, bucket, until, node = (param(x) for x in ("since", "bucket", "until", "node"))
    cols = [f"SUM({c}){cast if not c.endswith('_sum') else ''} AS {c}" for c in SUMS]
    cols += [f"MAX({c}) AS {c}" for c in MAXES] + [f"MIN({c}) AS {c}" for c in MINS]
    return (f"SELECT uplink, (bucket_ms - {since}) / {bucket} AS k, "
            f"MIN(bucket_ms) AS first_ms, {', '.join(cols)} FROM rollup_5m "
            f"WHERE node = {node} AND bucket_ms >= {since} AND bucket_ms < {until} "
            "GROUP BY uplink, k ORDER BY k, uplink")


def site_rx_sql(param: Callable[[str], str]) -> str:
    """Per (site, 5-minute bucket): the sum over the site's nodes of each node's mean rx_bps
    (per sample the sum over uplinks) in that bucket; nodes by their current site."""
    since, until = param("since"), param("until")
    return ("SELECT n.site AS site, r.bucket_ms AS bucket_ms, "
            "SUM(r.rx_sum / r.rx_n) AS rx_bps FROM nodes n JOIN rollup_5m r "
            f"ON r.node = n.node AND r.uplink = '' AND r.bucket_ms >= {since} "
            f"AND r.bucket_ms < {until} WHERE r.rx_n > 0 "
            "GROUP BY n.site, r.bucket_ms ORDER BY n.site, r.bucket_ms")
