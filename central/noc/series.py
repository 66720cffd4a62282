"""Chart series of one node, downsampled server-side to a few hundred points per range."""

from __future__ import annotations

import time
from typing import Any

from central.storage import Storage

# range -> (span ms, bucket ms): about 300-360 points per chart.
RANGES: dict[str, tuple[int, int]] = {
    "1h": (3600_000, 10_000), "24h": (86400_000, 300_000),
    "7d": (7 * 86400_000, 1800_000), "30d": (30 * 86400_000, 7200_000),
}
PAGE = 5000
MAX_PAGES = 400  # bounded: 2M samples at most per request


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

    def peak(self, key: str, value: float | None) -> None:
        if value is not None:
            self.maxes[key] = max(self.maxes.get(key, float("-inf")), float(value))

    def mean(self, key: str, nd: int = 2) -> float | None:
        c = self.counts.get(key)
        return round(self.sums[key] / c, nd) if c else None


def node_series(storage: Storage, node: str, rng: str, now_ms: int | None = None
                ) -> dict[str, Any]:
    """Columnar series (uPlot order: time in seconds first) of RTT/loss per uplink, users,
    throughput and shaping limit, bucketed for the range."""
    span, bucket = RANGES[rng]
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    since = now_ms - span
    accs: dict[int, _Acc] = {}
    uplinks: list[str] = []
    for row in iter_samples(storage, node, since, now_ms + 60_000):
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
    keys = sorted(accs)
    out: dict[str, Any] = {
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
    return out
