"""Chart series of one node, downsampled server-side to a few hundred points per range."""

from __future__ import annotations

from typing import Any

from central.clock import wall_ms
from central.storage import Storage
from central.storage.rollup import BUCKET_MS as ROLLUP_BUCKET_MS

# range -> (span ms, bucket ms): about 300-360 points per chart.
RANGES: dict[str, tuple[int, int]] = {
    "1h": (3600_000, 10_000), "24h": (86400_000, 300_000),
    "7d": (7 * 86400_000, 1800_000), "30d": (30 * 86400_000, 7200_000),
}
PAGE = 5000
MAX_PAGES = 400  # bounded: 2M samples at most per request (raw path: 1h, 360 samples)


def iter_samples(storage: Storage, node: str, since_ms: int, until_ms: int
                 ) -> list[dict[str, Any]]:
    """All samples of a node in [since, until), paged through Storage.samples()."""
    out: list[dict[str, Any]] = []
    cursor = since_ms
    for _ in range(MAX_PAGES):
        rows = storage.samples(node, cursor, until_ms, PAGE)
        out.extend(rows)
        if len(rows) < PAGE:
            break
        last = rows[-1]["ts_ms"]
        cursor = last + 1 if last >= cursor else cursor + 1
    return out


class _Acc:
    """Running means and maxima of one bucket."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.maxes: dict[str, float] = {}

    def add(self, key: str, value: float | None) -> None:
        if value is None:
            return
        self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.counts[key] = self.counts.get(key, 0) + 1

    def merge(self, key: str, total: float, count: int) -> None:
        """count values summing to total (a rollup row)."""
        if count:
            self.sums[key] = self.sums.get(key, 0.0) + float(total)
            self.counts[key] = self.counts.get(key, 0) + int(count)

    def peak(self, key: str, value: float | None) -> None:
        if value is not None:
            self.maxes[key] = max(self.maxes.get(key, float("-inf")), float(value))

    def mean(self, key: str, nd: int = 2) -> float | None:
        c = self.counts.get(key)
        return round(self.sums[key] / c, nd) if c else None


def window(rng: str, now_ms: int) -> tuple[int, int, int]:
    """(since, until, bucket) of a range: since rounded down to a whole bucket (so 5-minute
    rollup buckets nest in chart buckets), until a minute after now (clock skew)."""
    span, bucket = RANGES[rng]
    since = now_ms - span
    return since - since % bucket, now_ms + 60_000, bucket


def node_series(storage: Storage, node: str, rng: str, now_ms: int | None = None
                ) -> dict[str, Any]:
    """Columnar series (uPlot order: time in seconds first) of RTT/loss per uplink, users,
    throughput and shaping limit, bucketed for the range. Ranges with buckets of 5 minutes or
    more read the 5-minute rollup (at most a few thousand rows); 1h reads the raw samples."""
    now_ms = wall_ms() if now_ms is None else now_ms
    since, until, bucket = window(rng, now_ms)
    if bucket % ROLLUP_BUCKET_MS:
        return node_series_raw(storage, node, rng, now_ms)
    accs: dict[int, _Acc] = {}
    first: dict[str, int] = {}
    for row in storage.rollup(node, since, until, bucket):
        acc = accs.setdefault(int(row["k"]), _Acc())
        up = row["uplink"]
        if up:
            seen = int(row["first_key"])  # first appearance: earliest sample, then position
            first[up] = min(first.get(up, seen), seen)
            acc.merge(f"rtt:{up}", row["rtt_sum"], row["rtt_n"])
            acc.merge(f"loss:{up}", row["loss_sum"], row["loss_n"])
            continue
        acc.merge("rx", row["rx_sum"] / 1e6, row["rate_n"])
        acc.merge("tx", row["tx_sum"] / 1e6, row["rate_n"])
        acc.merge("users", row["users_sum"], row["users_n"])
        for key in ("shape_down", "shape_up"):
            if row[f"{key}_max"] is not None:
                acc.peak(key, row[f"{key}_max"] / 1000)
    order = sorted(first, key=lambda u: (first[u], u))
    return _columns(node, rng, since, now_ms, bucket, accs, order)


def node_series_raw(storage: Storage, node: str, rng: str, now_ms: int | None = None
                    ) -> dict[str, Any]:
    """node_series from the raw samples (every sample decoded): the 1h range, and the
    reference the rollup path is tested against."""
    now_ms = wall_ms() if now_ms is None else now_ms
    since, until, bucket = window(rng, now_ms)
    accs: dict[int, _Acc] = {}
    uplinks: list[str] = []
    for row in iter_samples(storage, node, since, until):
        data = row.get("data") or {}
        acc = accs.setdefault((row["ts_ms"] - since) // bucket, _Acc())
        rx = tx = 0.0
        have_rate = False
        for up in data.get("uplinks") or []:
            name = up.get("name")
            if name not in uplinks:
                uplinks.append(name)
            acc.add(f"rtt:{name}", up.get("rtt_ms"))
            acc.add(f"loss:{name}", up.get("loss_pct"))
            if up.get("rx_bps") is not None or up.get("tx_bps") is not None:
                have_rate = True
                rx += float(up.get("rx_bps") or 0)
                tx += float(up.get("tx_bps") or 0)
        if have_rate:
            acc.add("rx", rx / 1e6)
            acc.add("tx", tx / 1e6)
        acc.add("users", (data.get("users") or {}).get("total"))
        sh = data.get("shaping") or {}
        acc.peak("shape_down", (sh.get("down_kbps") or 0) / 1000 if sh.get("down_kbps") else None)
        acc.peak("shape_up", (sh.get("up_kbps") or 0) / 1000 if sh.get("up_kbps") else None)
    return _columns(node, rng, since, now_ms, bucket, accs, uplinks)


def _columns(node: str, rng: str, since: int, now_ms: int, bucket: int, accs: dict[int, _Acc],
             uplinks: list[str]) -> dict[str, Any]:
    keys = sorted(accs)
    return {
        "node": node, "range": rng, "bucket_s": bucket // 1000, "uplinks": uplinks,
        "from_s": since / 1000, "to_s": now_ms / 1000,
        "t": [(since + k * bucket + bucket // 2) / 1000 for k in keys],
        "rtt": {u: [accs[k].mean(f"rtt:{u}", 1) for k in keys] for u in uplinks},
        "loss": {u: [accs[k].mean(f"loss:{u}", 2) for k in keys] for u in uplinks},
        "users": [accs[k].mean("users", 1) for k in keys],
        "rx": [accs[k].mean("rx", 3) for k in keys], "tx": [accs[k].mean("tx", 3) for k in keys],
        "shape_down": [accs[k].maxes.get("shape_down") for k in keys],
        "shape_up": [accs[k].maxes.get("shape_up") for k in keys],
    }
