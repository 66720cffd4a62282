"""Prometheus text exposition of collector counters and stored-node totals."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from central.stats import BATCH_BUCKETS

PREFIX = "kotanet_central"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _metric(name: str, kind: str, help_: str,
            samples: Iterable[tuple[dict[str, str], float]]) -> list[str]:
    full = f"{PREFIX}_{name}"
    out = [f"# HELP {full} {help_}", f"# TYPE {full} {kind}"]
    for labels, value in samples:
        lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
        num = str(int(value)) if float(value).is_integer() else repr(float(value))
        out.append(f"{full}{{{lab}}} {num}" if lab else f"{full} {num}")
    return out


def render(stats: dict[str, Any], totals: dict[str, int], gaps: dict[str, int],
           instance: str) -> str:
    """The /metrics body (text format 0.0.4)."""
    lines: list[str] = []
    lines += _metric("info", "gauge", "Collector instance.", [({"central": instance}, 1)])
    lines += _metric("mqtt_connected", "gauge", "1 while connected to the broker.",
                     [({}, 1 if stats["connected"] else 0)])
    lines += _metric("messages_total", "counter", "Accepted messages by kind.",
                     [({"kind": k}, v) for k, v in sorted(stats["messages"].items())])
    lines += _metric("rejects_total", "counter", "Rejected messages by reason.",
                     [({"reason": k}, v) for k, v in sorted(stats["rejects"].items())])
    lines += _metric("queue_depth", "gauge", "Messages waiting for the writer.",
                     [({}, stats["queue_depth"])])
    lines += _metric("queue_capacity", "gauge", "Size of the writer queue.",
                     [({}, stats["queue_max"])])
    lines += _metric("records_written_total", "counter", "Samples and events committed.",
                     [({}, stats["records_written"])])
    lines += _metric("receipts_total", "counter", "rx receipts published after commit.",
                     [({}, stats["receipts"])])
    lines += _metric("write_errors_total", "counter", "Batches the database refused.",
                     [({}, stats["write_errors"])])
    hist = f"{PREFIX}_write_batch_size"
    lines += [f"# HELP {hist} Messages per committed write batch.", f"# TYPE {hist} histogram"]
    buckets = stats["write_batch_buckets"]
    lines += [f'{hist}_bucket{{le="{b}"}} {buckets[str(b)]}' for b in BATCH_BUCKETS]
    lines += [f'{hist}_bucket{{le="+Inf"}} {stats["write_batches"]}',
              f"{hist}_sum {stats['write_batch_messages']}",
              f"{hist}_count {stats['write_batches']}"]
    online = totals.get("nodes_online", 0)
    lines += _metric("nodes", "gauge", "Known nodes by presence.",
                     [({"state": "online"}, online),
                      ({"state": "offline"}, totals.get("nodes", 0) - online)])
    lines += _metric("nodes_unregistered", "gauge", "Nodes seen that the registry lacks.",
                     [({}, totals.get("nodes_unregistered", 0))])
    lines += _metric("stored_records", "gauge", "Rows stored by table.",
                     [({"table": t}, totals.get(t, 0)) for t in ("samples", "events", "drops")])
    lines += _metric("gap_seqs", "gauge", "Seqs missing after the grace period (not dropped).",
                     [({}, gaps.get("missing", 0))])
    lines += _metric("gap_ranges", "gauge", "Gap ranges after the grace period.",
                     [({}, gaps.get("count", 0))])
    return "\n".join(lines) + "\n"
