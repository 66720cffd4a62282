"""The probe interface: one small collector per module, Telegraf/node_exporter style."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from agent.clock import Clock, monotonic
from protocol.messages import ProbeReport

log = logging.getLogger(__name__)

Status = Literal["ok", "unavailable", "failed", "timeout"]


class NotApplicable(Exception):
    """Raised by a probe when its source does not exist here (not an error)."""


@dataclass
class ProbeResult:
    """What one probe run produced: a partial sample dict plus its own report."""

    name: str
    status: Status
    data: dict[str, Any] = field(default_factory=dict)
    duration_ms: float = 0.0
    detail: str = ""

    def report(self) -> ProbeReport:
        """The wire form of this result's status."""
        return ProbeReport(
            name=self.name, status=self.status, duration_ms=round(self.duration_ms, 3),
            detail=self.detail[:200],
        )


class Probe(Protocol):
    """A read-only collector. ``collect`` returns data for the sample (plus an optional
    "detail" string, e.g. which sources were unavailable), or raises NotApplicable (source
    absent: reported "unavailable") or any other error ("failed")."""

    name: str

    def collect(self) -> dict[str, Any]:
        """Collect one round of data."""
        ...


class ProbeRunner:
    """Runs probes with a timeout each, so a hung probe never blocks the loop.

    ``workers`` threads run them in parallel; ``workers=0`` runs them one after another in
    the caller's thread (fast simulated probes: no pool, and no timeout to enforce).
    """

    def __init__(self, probes: list[Probe], timeout_s: float = 3.0, workers: int = 6) -> None:
        self.probes = probes
        self.timeout_s = timeout_s
        self._pool = (ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe")
                      if workers > 0 else None)
        self._hung: dict[str, Future[dict[str, Any]]] = {}

    def run_all(self, clock: Clock = monotonic) -> list[ProbeResult]:
        """Run every probe once (in parallel with a pool), each bounded by the timeout."""
        if self._pool is None:
            results = []
            for probe in self.probes:
                t0 = clock()
                try:
                    data = dict(probe.collect())
                except Exception as exc:  # one failing probe never stops a sample
                    results.append(self._failed(probe, t0, clock, exc))
                else:
                    results.append(self._ok(probe, t0, clock, data))
            return results
        started: list[tuple[Probe, float, Future[dict[str, Any]] | None]] = []
        for probe in self.probes:
            prev = self._hung.get(probe.name)
            if prev is not None and not prev.done():
                started.append((probe, clock(), None))  # still hung from last round
                continue
            self._hung.pop(probe.name, None)
            started.append((probe, clock(), self._pool.submit(probe.collect)))
        deadline = clock() + self.timeout_s
        out = []
        for probe, t0, fut in started:
            if fut is None:
                out.append(ProbeResult(probe.name, "timeout", detail="still hung"))
                continue
            try:
                data = dict(fut.result(timeout=max(0.0, deadline - clock())))
            except FutureTimeout:
                self._hung[probe.name] = fut
                log.warning("probe %s timed out after %.1fs", probe.name, self.timeout_s)
                out.append(ProbeResult(probe.name, "timeout", {}, self.timeout_s * 1000,
                                       f"no answer in {self.timeout_s}s"))
            except Exception as exc:  # a failing probe must never stop the loop
                out.append(self._failed(probe, t0, clock, exc))
            else:
                out.append(self._ok(probe, t0, clock, data))
        return out

    @staticmethod
    def _ok(probe: Probe, t0: float, clock: Clock, data: dict[str, Any]) -> ProbeResult:
        detail = str(data.pop("detail", ""))  # a probe's note on partial sources
        return ProbeResult(probe.name, "ok", data, (clock() - t0) * 1000, detail)

    @staticmethod
    def _failed(probe: Probe, t0: float, clock: Clock, exc: Exception) -> ProbeResult:
        """NotApplicable is "unavailable" (not an error); any other exception "failed"."""
        if isinstance(exc, NotApplicable):
            return ProbeResult(probe.name, "unavailable", {}, (clock() - t0) * 1000, str(exc))
        log.warning("probe %s failed: %s", probe.name, exc)
        return ProbeResult(probe.name, "failed", {}, (clock() - t0) * 1000,
                           f"{type(exc).__name__}: {exc}")

    def close(self) -> None:
        """Stop the worker threads (hung probes are abandoned)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
