"""What this instance's retention task deleted (central/storage/retention.py), per table."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from central.storage.retention import TABLES, RetentionStats

PREFIX = "kotanet_retention"


class RetentionMetrics:
    """The retention counters, read at scrape time (only the leader deletes: sum instances)."""

    def __init__(self, stats: RetentionStats) -> None:
        self.stats = stats

    def describe(self) -> Iterator[Metric]:
        """The families without samples."""
        yield from self._families(live=False)

    def collect(self) -> Iterator[Metric]:
        """The counters now."""
        yield from self._families(live=True)

    def _families(self, live: bool) -> Iterator[Metric]:
        st = self.stats
        deleted = CounterMetricFamily(f"{PREFIX}_deleted_rows",
                                      "Rows deleted by retention on this instance.",
                                      labels=["table"])
        if live:
            for table in TABLES:
                deleted.add_metric([table], st.deleted.get(table, 0))
        yield deleted
        yield CounterMetricFamily(f"{PREFIX}_passes", "Retention passes this instance ran.",
                                  value=st.passes if live else None)
        yield CounterMetricFamily(f"{PREFIX}_errors", "Retention passes that failed.",
                                  value=st.errors if live else None)
        yield GaugeMetricFamily(f"{PREFIX}_last_pass_timestamp_seconds",
                                "Wall time of this instance's last finished pass (0: none yet).",
                                value=st.last_pass_ms / 1000 if live else None)
