"""LTE modem power-cycle: cut a hung modem's power through the [gpio] modem relay.

Private to agent.controllers: the node services run it once per loop pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from agent.clock import wall_ms
from agent.config import AgentConfig
from protocol.messages import Event

log = logging.getLogger(__name__)

MODEM_KINDS = ("lte",)  # uplink kinds whose modem sits behind [gpio] modem_relay
PowerCycle = Callable[[float], bool]  # off seconds -> True if the relay switched
Report = Callable[[str, str], None]  # (uplink, detail) of a failed power cycle


class ModemWatch:
    """Power-cycles the modem of an lte uplink once it has been down long enough."""

    def __init__(self, cfg: AgentConfig, power_cycle: PowerCycle, report: Report) -> None:
        self.cfg = cfg
        self._power_cycle = power_cycle
        self._report = report
        self._down_since: dict[str, float] = {}  # lte uplink -> agent clock when seen down
        self._last_cycle: float | None = None
        self._cycler: threading.Thread | None = None

    def check(self, now: float, states: dict[str, str]) -> list[Event]:
        """One pass with the uplinks' failover states; the event of a cycle started now."""
        fo = self.cfg.failover
        for up in self.cfg.uplinks:
            if up.kind not in MODEM_KINDS:
                continue
            if states.get(up.name) != "down":
                self._down_since.pop(up.name, None)
                continue
            down_s = now - self._down_since.setdefault(up.name, now)
            recent = (self._last_cycle is not None
                      and now - self._last_cycle < fo.modem_cycle_min_interval_s)
            busy = self._cycler is not None and self._cycler.is_alive()
            if down_s < fo.modem_cycle_after_s or recent or busy:
                continue
            self._last_cycle = now
            self._cycler = threading.Thread(target=self._run, name="modem-cycle",
                                            args=(up.name, fo.modem_cycle_off_s), daemon=True)
            self._cycler.start()
            log.warning("uplink %s down for %.0fs: power-cycling its modem for %.1fs",
                        up.name, down_s, fo.modem_cycle_off_s)
            msg = f"power-cycling the LTE modem of {up.name} after {down_s:.0f}s down"
            return [Event(ts_ms=wall_ms(), kind="modem_power_cycle", severity="warning",
                          message=msg,
                          data={"uplink": up.name, "iface": up.iface, "down_s": round(down_s, 1),
                                "off_s": fo.modem_cycle_off_s,
                                "min_interval_s": fo.modem_cycle_min_interval_s})]
        return []

    def _run(self, uplink: str, off_s: float) -> None:
        """Worker thread: cut and restore the modem's power; report a failure."""
        try:
            ok, detail = bool(self._power_cycle(off_s)), "relay did not switch"
        except Exception as exc:
            log.exception("modem power cycle failed")
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            self._report(uplink, detail)

    def join(self) -> None:
        """Let a running power cycle restore the modem's power."""
        if self._cycler is not None:
            self._cycler.join(timeout=self.cfg.failover.modem_cycle_off_s + 5)
