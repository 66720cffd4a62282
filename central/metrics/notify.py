"""The notification outbox (rows by status) and this instance's deliveries and failures."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from central.notify.outbox import OUTBOX_STATUSES, OutboxError
from central.notify.sender import Sender

log = logging.getLogger(__name__)

PREFIX = "kotanet_notify"


class NotifyMetrics:
    """The sender's figures, read at scrape time."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender

    def describe(self) -> Iterator[Metric]:
        """The families without samples."""
        yield from self._families(None, live=False)

    def collect(self) -> Iterator[Metric]:
        """Outbox rows by status (none when the outbox cannot be read) and the counters."""
        try:
            counts: dict[str, int] | None = self.sender.outbox.counts()
        except OutboxError as exc:
            log.error("outbox counts for /metrics unavailable: %s", exc)
            counts = None
        yield from self._families(counts, live=True)

    def _families(self, counts: dict[str, int] | None, live: bool) -> Iterator[Metric]:
        fam = GaugeMetricFamily(f"{PREFIX}_outbox", "Notification outbox rows by status.",
                                labels=["status"])
        if counts is not None:
            for status in OUTBOX_STATUSES:
                fam.add_metric([status], counts.get(status, 0))
        yield fam
        yield CounterMetricFamily(f"{PREFIX}_delivered", "Notifications delivered by this instance.",
                                  value=self.sender.sent if live else None)
        yield CounterMetricFamily(f"{PREFIX}_failures", "Failed delivery attempts of this instance.",
                                  value=self.sender.failures if live else None)
