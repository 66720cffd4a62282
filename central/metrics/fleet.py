"""Fleet figures from central's storage, read at scrape time: node totals, stored rows, gaps,
and per-node gauges of the newest sample (users, per-uplink RTT/loss/up, active uplink,
throttle) with presence and last-seen time.

Labels stay bounded: per-node series exist only for nodes in central's registry (a node that
publishes without being registered is counted in ``kotanet_central_nodes_unregistered`` and
nothing else), ``site`` comes from the registry, and ``uplink`` only from that node's newest
sample (at most protocol.limits.MAX_UPLINKS names, each a protocol Id).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric

from central.storage.base import Storage, StorageError

log = logging.getLogger(__name__)

PREFIX = "kotanet_central"
NODE_PREFIX = "kotanet_node"
NODE_LABELS = ["node", "site"]
UPLINK_LABELS = ["node", "site", "uplink"]

#: name -> (help, labels) of every per-node family, in output order.
NODE_FAMILIES: dict[str, tuple[str, list[str]]] = {
    "info": ("A node central knows (value 1), with its site and role.",
             [*NODE_LABELS, "role"]),
    "online": ("1 while the node's presence is online (retained state / Will).", NODE_LABELS),
    "last_seen_timestamp_seconds": ("When central last heard from the node (Unix time).",
                                    NODE_LABELS),
    "last_sample_timestamp_seconds": ("Time of the node's newest stored sample (Unix time).",
                                      NODE_LABELS),
    "users": ("Wi-Fi users of the node's newest sample (associated or leased, deduplicated).",
              NODE_LABELS),
    "users_authenticated": ("Users past the captive portal in the newest sample.", NODE_LABELS),
    "cpu_usage_ratio": ("CPU use in the newest sample (0-1).", NODE_LABELS),
    "temperature_celsius": ("CPU temperature in the newest sample.", NODE_LABELS),
    "throttled": ("1 while a central throttle is in force on the node (newest sample).",
                  NODE_LABELS),
    "throttle_down_bytes_per_second": ("Download limit of the throttle in force.", NODE_LABELS),
    "throttle_up_bytes_per_second": ("Upload limit of the throttle in force.", NODE_LABELS),
    "uplink_up": ("1 if the uplink passed its probes in the newest sample, 0 if not.",
                  UPLINK_LABELS),
    "uplink_active": ("1 for the uplink carrying the node's traffic (default route).",
                      UPLINK_LABELS),
    "uplink_rtt_seconds": ("Round-trip time through the uplink in the newest sample.",
                           UPLINK_LABELS),
    "uplink_loss_ratio": ("Probe loss through the uplink in the newest sample (0-1).",
                          UPLINK_LABELS),
}


def _seconds(ms: Any) -> float | None:
    return None if ms is None else float(ms) / 1000.0


def _ratio(pct: Any) -> float | None:
    return None if pct is None else float(pct) / 100.0


def _bytes_per_s(kbps: Any) -> float | None:
    return None if kbps is None else float(kbps) * 1000.0 / 8.0


class FleetMetrics:
    """Node totals and per-node gauges from ``storage`` (``gaps()``: the gap summary)."""

    def __init__(self, storage: Storage, gaps: Callable[[], dict[str, Any]]) -> None:
        self.storage = storage
        self.gaps = gaps

    def describe(self) -> Iterator[Metric]:
        """The families without samples."""
        yield from self._totals({}, {})
        yield from self._nodes([], {})
        yield self._up(0)

    def collect(self) -> Iterator[Metric]:
        """Read the node table and each registered node's newest sample now (empty families
        and ``kotanet_central_storage_up 0`` if the database cannot be read)."""
        try:
            totals = self.storage.totals()
            rows = [r for r in self.storage.list_nodes() if not r["unregistered"]]
            newest = {r["node"]: self._newest(r) for r in rows}
        except StorageError as exc:
            log.error("fleet figures for /metrics unavailable: %s", exc)
            totals, rows, newest = {}, [], {}
            ok = 0
        else:
            ok = 1
        yield from self._totals(totals, self.gaps())
        yield from self._nodes(rows, newest)
        yield self._up(ok)

    @staticmethod
    def _up(ok: int) -> Metric:
        return GaugeMetricFamily(f"{PREFIX}_storage_up",
                                 "1 if the node tables could be read for this scrape.", value=ok)

    def _newest(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """The newest sample's JSON (None without samples or if it cannot be read)."""
        ts, seq = row["last_sample_ms"], row["last_seq"]
        if ts is None:
            return None
        try:
            found = self.storage.samples(row["node"], ts, ts + 1, 50)
            data = next((s["data"] for s in found if s["seq"] == seq), None)
            parsed = json.loads(data) if isinstance(data, str | bytes) else data
        except (ValueError, OSError) as exc:
            log.warning("newest sample of %s unreadable for /metrics: %s", row["node"], exc)
            return None
        return parsed if isinstance(parsed, dict) else None

    @staticmethod
    def _totals(totals: dict[str, int], gaps: dict[str, Any]) -> Iterator[Metric]:
        nodes = GaugeMetricFamily(f"{PREFIX}_nodes", "Known nodes by presence.",
                                  labels=["state"])
        stored = GaugeMetricFamily(f"{PREFIX}_stored_records", "Rows stored by table.",
                                   labels=["table"])
        if totals:
            online = totals.get("nodes_online", 0)
            nodes.add_metric(["online"], online)
            nodes.add_metric(["offline"], totals.get("nodes", 0) - online)
            for table in ("samples", "events", "drops"):
                stored.add_metric([table], totals.get(table, 0))
        yield nodes
        yield GaugeMetricFamily(f"{PREFIX}_nodes_unregistered",
                                "Nodes seen that the registry lacks.",
                                value=totals.get("nodes_unregistered", 0))
        yield stored
        yield GaugeMetricFamily(f"{PREFIX}_gap_seqs",
                                "Seqs missing after the grace period (not dropped).",
                                value=gaps.get("missing", 0))
        yield GaugeMetricFamily(f"{PREFIX}_gap_ranges", "Gap ranges after the grace period.",
                                value=gaps.get("count", 0))

    @staticmethod
    def _nodes(rows: list[dict[str, Any]],
               newest: dict[str, dict[str, Any] | None]) -> Iterator[Metric]:
        fams = {name: GaugeMetricFamily(f"{NODE_PREFIX}_{name}", help_, labels=labels)
                for name, (help_, labels) in NODE_FAMILIES.items()}

        def put(name: str, labels: list[str], value: Any) -> None:
            if value is not None:
                fams[name].add_metric(labels, float(value))

        for r in rows:
            lab = [r["node"], r["site"]]
            put("info", [*lab, r["role"] or ""], 1)
            put("online", lab, 1 if r["online"] else 0)
            put("last_seen_timestamp_seconds", lab, _seconds(r["last_seen_ms"]))
            put("last_sample_timestamp_seconds", lab, _seconds(r["last_sample_ms"]))
            put("users", lab, r["users_total"])
            put("users_authenticated", lab, r["users_authenticated"])
            put("cpu_usage_ratio", lab, _ratio(r["cpu_pct"]))
            put("temperature_celsius", lab, r["temp_c"])
            if r["last_sample_ms"] is not None:
                in_force = r["throttle_version"] is not None
                put("throttled", lab, 1 if in_force else 0)
                if in_force:
                    put("throttle_down_bytes_per_second", lab,
                        _bytes_per_s(r["throttle_down_kbps"]))
                    put("throttle_up_bytes_per_second", lab,
                        _bytes_per_s(r["throttle_up_kbps"]))
            sample = newest.get(r["node"]) or {}
            uplinks = sample.get("uplinks") or []
            seen: set[str] = set()
            for u in uplinks if isinstance(uplinks, list) else ():
                name = u.get("name") if isinstance(u, dict) else None
                if not isinstance(name, str) or name in seen:
                    continue
                seen.add(name)
                ulab = [*lab, name]
                put("uplink_up", ulab, None if u.get("up") is None else int(bool(u["up"])))
                put("uplink_active", ulab, int(bool(u.get("active"))))
                put("uplink_rtt_seconds", ulab, _seconds(u.get("rtt_ms")))
                put("uplink_loss_ratio", ulab, _ratio(u.get("loss_pct")))
        yield from fams.values()
