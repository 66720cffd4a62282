"""Alert gauges (open, acknowledged by severity), the evaluation loop's counters, and the
incidents not resolved (by state and severity)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from central.alerts.incident_store import IncidentStore, IncidentStoreError
from central.alerts.incidents import INCIDENT_STATES
from central.alerts.model import SEVERITIES
from central.alerts.service import AlertService
from central.alerts.store import AlertStoreError

log = logging.getLogger(__name__)

PREFIX = "kotanet_alerts"
ACTIVE_STATES = tuple(s for s in INCIDENT_STATES if s != "resolved")
STATES = (("open", "Alerts open and not acknowledged, by severity."),
          ("acknowledged", "Alerts acknowledged, not yet resolved, by severity."))


class AlertMetrics:
    """The alert service's figures, read at scrape time."""

    def __init__(self, svc: AlertService) -> None:
        self.svc = svc

    def describe(self) -> Iterator[Metric]:
        """The families without samples."""
        yield from self._families(None)

    def collect(self) -> Iterator[Metric]:
        """Alert counts from the alert store (no gauges when it cannot be read)."""
        try:
            counts: dict[tuple[str, str], int] | None = self.svc.store.counts()
        except AlertStoreError as exc:
            log.error("alert counts for /metrics unavailable: %s", exc)
            counts = None
        yield from self._families(counts, live=True)

    def _families(self, counts: dict[tuple[str, str], int] | None,
                  live: bool = False) -> Iterator[Metric]:
        for state, help_ in STATES:
            fam = GaugeMetricFamily(f"{PREFIX}_{state}", help_, labels=["severity"])
            if counts is not None:
                for sev in SEVERITIES:
                    fam.add_metric([sev], counts.get((state, sev), 0))
            yield fam
        yield CounterMetricFamily(f"{PREFIX}_evaluations", "Completed alert evaluation rounds.",
                                  value=self.svc.rounds if live else None)
        yield CounterMetricFamily(f"{PREFIX}_evaluation_errors", "Failed alert evaluation rounds.",
                                  value=self.svc.errors if live else None)


class IncidentMetrics:
    """Incidents not resolved, by state and severity, read at scrape time."""

    def __init__(self, store: IncidentStore) -> None:
        self.store = store

    def describe(self) -> Iterator[Metric]:
        """The family without samples."""
        yield from self._families(None)

    def collect(self) -> Iterator[Metric]:
        """Incident counts from the incident store (no samples when it cannot be read)."""
        try:
            counts: dict[tuple[str, str], int] | None = self.store.counts()
        except IncidentStoreError as exc:
            log.error("incident counts for /metrics unavailable: %s", exc)
            counts = None
        yield from self._families(counts)

    @staticmethod
    def _families(counts: dict[tuple[str, str], int] | None) -> Iterator[Metric]:
        fam = GaugeMetricFamily("kotanet_incidents_active",
                                "Incidents not resolved, by state and severity.",
                                labels=["state", "severity"])
        if counts is not None:
            for state in ACTIVE_STATES:
                for sev in SEVERITIES:
                    fam.add_metric([state, sev], counts.get((state, sev), 0))
        yield fam
