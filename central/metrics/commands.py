"""Command stage counters: issued commands and every ack stage, by command kind.

Read from the command tables at scrape time (rows are never deleted, so the counts only grow
and are counters); the tables are shared by every central instance, so every instance exports
the same fleet-wide figures.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from central.commands.store import CommandStore, CommandStoreError

log = logging.getLogger(__name__)

PREFIX = "kotanet_central"
#: "issued" (recorded and published by central) then the node's ack stages (protocol.md).
STAGES = ("issued", "accepted", "applied", "rejected", "expired", "superseded")


class CommandMetrics:
    """``kotanet_central_commands_total{kind, stage}`` from the command store."""

    def __init__(self, store: CommandStore) -> None:
        self.store = store

    def describe(self) -> Iterator[Metric]:
        """The families without samples."""
        yield CounterMetricFamily(f"{PREFIX}_commands", "", labels=["kind", "stage"])
        yield GaugeMetricFamily(f"{PREFIX}_commands_up", "")

    def collect(self) -> Iterator[Metric]:
        """Counts per (kind, stage); zero for every stage of a kind that was ever issued."""
        try:
            counts = self.store.stage_counts()
            ok = 1
        except CommandStoreError as exc:
            log.error("command counts for /metrics unavailable: %s", exc)
            counts, ok = {}, 0
        fam = CounterMetricFamily(
            f"{PREFIX}_commands", "Commands by kind and stage: issued by central, then the "
            "stages nodes acknowledged (accepted, applied, rejected, expired, superseded).",
            labels=["kind", "stage"])
        for kind in sorted({k for k, _ in counts}):
            for stage in sorted({s for k, s in counts if k == kind} | set(STAGES)):
                fam.add_metric([kind, stage], counts.get((kind, stage), 0))
        yield fam
        yield GaugeMetricFamily(f"{PREFIX}_commands_up",
                                "1 if the command tables could be read for this scrape.",
                                value=ok)
