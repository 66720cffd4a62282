"""Prometheus text (format 0.0.4): the line helper of every metrics source, and the collector's."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from central.collector.stats import BATCH_BUCKETS

PREFIX = "kotanet_central"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def metric(name: str, kind: str, help_: str, samples: Iterable[tuple[dict[str, str], float]],
           prefix: str = PREFIX) -> list[str]:
    """HELP, TYPE and one line per (labels, value) of the metric ``{prefix}_{name}``."""
    full = f"{prefix}_{name}"
    out = [f"# HELP {full} {help_}", f"# TYPE {full} {kind}"]
    for labels, value in samples:
        lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
        num = str(int(value)) if float(value).is_integer() else repr(float(value))
        out.append(f"{full}{{{lab}}} {num}" if lab else f"{full} {num}")
    return out


def counter_lines(stats: dict[str, Any], instance: str) -> str:
    """The collector's /metrics lines from a Stats.snapshot()."""
    lines: list[str] = []
    lines += metric("info", "gauge", "Collector instance.", [({"central": instance}, 1)])
    lines += metric("mqtt_connected", "gauge", "1 while connected to the broker.",
                    [({}, 1 if stats["connected"] else 0)])
    lines += metric("messages_total", "counter", "Accepted messages by kind.",
                    [({"kind": k}, v) for k, v in sorted(stats["messages"].items())])
    lines += metric("rejects_total", "counter", "Rejected messages by reason.",
                    [({"reason": k}, v) for k, v in sorted(stats["rejects"].items())])
    lines += metric("node_rejects_total", "counter", "Rejected messages by sending node.",
                    [({"node": k}, v) for k, v in sorted(stats["rejects_by_node"].items())])
    lines += metric("limited_total", "counter",
                    "Messages dropped unreceipted by the per-node rate limit, by node.",
                    [({"node": k}, v) for k, v in sorted(stats["limited"].items())])
    lines += metric("faults_total", "counter",
                    "Messages isolated after an unexpected failure, by where it happened.",
                    [({"where": k}, v) for k, v in sorted(stats["faults"].items())])
    lines += metric("queue_depth", "gauge", "Messages waiting for the writer.",
                    [({}, stats["queue_depth"])])
    lines += metric("queue_capacity", "gauge", "Size of the writer queue.",
                    [({}, stats["queue_max"])])
    lines += metric("records_written_total", "counter", "Samples and events committed.",
                    [({}, stats["records_written"])])
    lines += metric("receipts_total", "counter", "rx receipts published after commit.",
                    [({}, stats["receipts"])])
    lines += metric("write_errors_total", "counter", "Batches the database refused.",
                    [({}, stats["write_errors"])])
    hist = f"{PREFIX}_write_batch_size"
    lines += [f"# HELP {hist} Messages per committed write batch.", f"# TYPE {hist} histogram"]
    buckets = stats["write_batch_buckets"]
    lines += [f'{hist}_bucket{{le="{b}"}} {buckets[str(b)]}' for b in BATCH_BUCKETS]
    lines += [f'{hist}_bucket{{le="+Inf"}} {stats["write_batches"]}',
              f"{hist}_sum {stats['write_batch_messages']}",
              f"{hist}_count {stats['write_batches']}"]
    return "\n".join(lines) + "\n"
