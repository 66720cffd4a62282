"""Simulated throttle actuator: the ShapingController surface without tc, state in memory.

Params are validated by the real pure policy (agent.policy.shaping); the lease lapses like the
real one; the NodeModel caps its simulated traffic at the enforced rates.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from agent.policy import shaping as sp
from agent.shaping import Outcome
from protocol.messages import Shaping

log = logging.getLogger(__name__)


class SimShaping:
    """Duck-types agent.shaping.ShapingController for simulated nodes."""

    def __init__(self) -> None:
        self.version = 0
        self.effective: sp.Desired | None = None
        self.lease_deadline: float | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Nothing to enforce at start: a simulated node has no safe default limit."""

    def handle_command(self, kind: str, params: Mapping[str, Any], version: int,
                       now: float) -> Outcome:
        """Apply set_throttle/clear_throttle (gate checks already done by the agent)."""
        with self._lock:
            try:
                if kind == "set_throttle":
                    desired = sp.validate_set_throttle(params, version)
                    self.effective = desired
                    self.lease_deadline = now + desired.lease_s if desired.lease_s else None
                elif kind == "clear_throttle":
                    sp.validate_clear_throttle(params)
                    self.effective, self.lease_deadline = None, None
                else:
                    return Outcome("rejected", "bad_kind", f"not a throttle command: {kind}",
                                   self.version)
            except sp.ParamError as exc:
                return Outcome("rejected", exc.code, exc.detail, self.version)
            self.version = max(self.version, version)
            log.info("simulated throttle v%d: %s", self.version, self.effective)
            return Outcome("applied", "ok", "", self.version)

    def tick(self, now: float) -> bool:
        """True when the lease lapsed and the throttle was dropped."""
        with self._lock:
            if self.lease_deadline is None or now < self.lease_deadline:
                return False
            self.effective, self.lease_deadline = None, None
            return True

    def clear(self, version: int | None = None) -> Shaping | None:
        """Drop the throttle."""
        with self._lock:
            self.effective, self.lease_deadline = None, None
            if version is not None:
                self.version = max(self.version, version)
        return self.current()

    def current(self) -> Shaping | None:
        """What is 'enforced' now, as sample.shaping."""
        eff = self.effective
        if eff is None and self.version == 0:
            return None
        return Shaping(version=self.version, down_kbps=eff.down_kbps if eff else None,
                       up_kbps=eff.up_kbps if eff else None,
                       per_client_down_kbps=eff.per_client_down_kbps if eff else None,
                       per_client_up_kbps=eff.per_client_up_kbps if eff else None)

    def limits_bps(self) -> tuple[float | None, float | None]:
        """(down, up) caps in bit/s, None where unlimited."""
        eff = self.effective
        if eff is None:
            return None, None
        return (eff.down_kbps * 1000.0 if eff.down_kbps else None,
                eff.up_kbps * 1000.0 if eff.up_kbps else None)
