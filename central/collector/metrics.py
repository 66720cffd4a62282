"""The collector's /metrics families: a prometheus-client Collector reading Stats at scrape time.

Nothing is counted twice: the hot path keeps counting in ``Stats`` (one lock, plain ints) and
this collector turns a ``Stats.snapshot()`` into metric families when Prometheus scrapes.
Per-node series (``node_rejects_total``, ``limited_total``) carry a ``node`` label only for
nodes central knows (``known()``: the registry); every other node id is summed under
``node="other"``, so an untrusted publisher cannot grow the label set.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from central.collector.stats import BATCH_BUCKETS, Stats

PREFIX = "kotanet_central"
OTHER_NODE = "other"  # the label of every node id central does not know
NO_NODE = "?"  # a message that came on no node topic


def bounded_nodes(by_node: dict[str, int], known: Collection[str]) -> dict[str, int]:
    """Counts by node with unknown node ids summed under ``other`` (``?`` kept as is)."""
    out: dict[str, int] = {}
    for node, n in by_node.items():
        key = node if node in known or node == NO_NODE else OTHER_NODE
        out[key] = out.get(key, 0) + n
    return out


class CollectorMetrics:
    """The collector's counters, queue and write-batch histogram (one instance's figures)."""

    def __init__(self, stats: Stats, instance: str,
                 known: Callable[[], Collection[str]] = frozenset) -> None:
        self.stats = stats
        self.instance = instance
        self.known = known

    def describe(self) -> Iterator[Metric]:
        """The families without samples (lets the registry check names at registration)."""
        yield from self._families(None, frozenset())

    def collect(self) -> Iterator[Metric]:
        """The families with the current counters."""
        yield from self._families(self.stats.snapshot(), self.known())

    def _families(self, s: dict[str, Any] | None, known: Collection[str]) -> Iterator[Metric]:
        def fam(cls: Any, name: str, help_: str, labels: list[str],
                values: list[tuple[list[str], float]]) -> Metric:
            m = cls(f"{PREFIX}_{name}", help_, labels=labels)
            for lab, v in values:
                m.add_metric(lab, v)
            return m

        def by(key: str, bound: bool = False) -> list[tuple[list[str], float]]:
            if s is None:
                return []
            counts = bounded_nodes(s[key], known) if bound else s[key]
            return [([k], v) for k, v in sorted(counts.items())]

        def one(key: str | None, value: float = 0) -> list[tuple[list[str], float]]:
            return [([], value if s is None or key is None else s[key])]

        yield fam(GaugeMetricFamily, "info", "Collector instance (value 1).", ["central"],
                  [([self.instance], 1)])
        yield fam(GaugeMetricFamily, "mqtt_connected", "1 while connected to the broker.", [],
                  [([], 1 if s is not None and s["connected"] else 0)])
        yield fam(CounterMetricFamily, "messages", "Accepted messages by kind.", ["kind"],
                  by("messages"))
        yield fam(CounterMetricFamily, "rejects", "Rejected messages by reason.", ["reason"],
                  by("rejects"))
        yield fam(CounterMetricFamily, "node_rejects",
                  "Rejected messages by sending node (unknown nodes as other).", ["node"],
                  by("rejects_by_node", bound=True))
        yield fam(CounterMetricFamily, "limited",
                  "Messages dropped unreceipted by the per-node rate limit, by node.", ["node"],
                  by("limited", bound=True))
        yield fam(CounterMetricFamily, "faults",
                  "Messages isolated after an unexpected failure, by where it happened.",
                  ["where"], by("faults"))
        yield fam(GaugeMetricFamily, "queue_depth", "Messages waiting for the writer.", [],
                  one("queue_depth"))
        yield fam(GaugeMetricFamily, "queue_capacity", "Size of the writer queue.", [],
                  one("queue_max"))
        yield fam(CounterMetricFamily, "records_written", "Samples and events committed.", [],
                  one("records_written"))
        yield fam(CounterMetricFamily, "receipts", "rx receipts published after commit.", [],
                  one("receipts"))
        yield fam(CounterMetricFamily, "write_errors", "Batches the database refused.", [],
                  one("write_errors"))
        yield fam(CounterMetricFamily, "mqtt_connects", "Successful connections to the broker.",
                  [], one("connects"))
        hist = HistogramMetricFamily(f"{PREFIX}_write_batch_size",
                                     "Messages per committed write batch.")
        if s is not None:
            cum = s["write_batch_buckets"]  # already cumulative (size <= bound)
            hist.add_metric([], [(str(b), cum[str(b)]) for b in BATCH_BUCKETS]
                            + [("+Inf", s["write_batches"])], s["write_batch_messages"])
        yield hist
