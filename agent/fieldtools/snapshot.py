"""The status snapshot: the running agent writes it to RAM, `status` and the status page read it.

The agent calls ``write`` after every sample and ``observe`` for every item its loop handles
(connect, disconnect, receipts, central presence, commands) and ``on_ack`` for every ack it
sends. The file is replaced atomically (temporary file + rename in the same directory, no
fsync: it lives on tmpfs), mode 0644, and holds nothing secret. A failing write is logged
once and never disturbs the agent.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.clock import wall_ms
from agent.config import AgentConfig
from agent.fieldtools.collect import collect
from agent.fieldtools.snapfile import write_file
from agent.transport.session import Connected, Disconnected, InboundMessage
from protocol.messages import CentralState, Command, CommandAck, DeliveryReceipt

log = logging.getLogger(__name__)


class SnapshotWriter:
    """Publishes one agent's status snapshot to ``path`` (None: a no-op writer)."""

    def __init__(self, path: str | Path | None, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.path = Path(path) if path else None
        self._clock = clock
        self._failing: str | None = None
        self._connected: tuple[bool, int, float] | None = None  # (up, wall ms, clock)
        self._receipt: tuple[int, int] | None = None  # (wall ms, highest seq)
        self._command: dict[str, Any] | None = None
        self.writes = 0

    @property
    def enabled(self) -> bool:
        """True when snapshots are written."""
        return self.path is not None

    def observe(self, agent: Any, item: object) -> None:
        """Note what a loop item tells about the broker or commands; write if it matters."""
        if self.path is None:
            return
        if isinstance(item, Connected | Disconnected):
            up = isinstance(item, Connected)
            if self._connected is None or self._connected[0] != up:
                self._connected = (up, wall_ms(), self._clock())
        elif isinstance(item, InboundMessage) and isinstance(item.model, DeliveryReceipt):
            top = max((hi for _lo, hi in item.model.acked), default=None)
            if top is not None:
                self._receipt = (wall_ms(), max(top, self._receipt[1] if self._receipt else -1))
        elif not (isinstance(item, InboundMessage)
                  and isinstance(item.model, CentralState | Command)):
            return
        self.write(agent)

    def on_ack(self, cmd: Command, ack: CommandAck) -> None:
        """Remember the last command and every ack stage sent for it."""
        if self.path is None:
            return
        last = self._command
        stages = list(last["stages"]) if last and last["cmd_id"] == cmd.cmd_id else []
        self._command = {"cmd_id": cmd.cmd_id, "kind": cmd.kind, "version": cmd.version,
                         "epoch": cmd.epoch, "stage": ack.stage, "code": ack.code,
                         "detail": ack.detail[:200], "ts_ms": ack.ts_ms,
                         "stages": [*stages, ack.stage]}

    def extra(self) -> dict[str, Any]:
        """What the writer observed itself, for collect()."""
        out: dict[str, Any] = {"command": self._command}
        if self._connected is not None:
            up, since_ms, since = self._connected
            out["broker_since_ms"] = since_ms
            out["broker_down_s"] = 0.0 if up else self._clock() - since
        if self._receipt is not None:
            out["last_receipt_ms"], out["last_receipt_seq"] = self._receipt
        return out

    def write(self, agent: Any) -> bool:
        """Collect and publish the snapshot now; False (logged once) if that failed."""
        if self.path is None:
            return False
        try:
            data = json.dumps(collect(agent, self.extra(), self._clock),
                              separators=(",", ":")).encode()
            write_file(self.path, data)
        except Exception as exc:  # a missing /run/kotanet must never stop the agent
            why = f"{type(exc).__name__}: {exc}"
            if why != self._failing:
                log.warning("status snapshot %s not written (%s); `kotanet-agent status` and "
                            "the status page show old or no data", self.path, why)
            self._failing = why
            return False
        if self._failing is not None:
            log.info("status snapshot %s written again", self.path)
            self._failing = None
        self.writes += 1
        return True


def snapshot_writer(cfg: AgentConfig, *, simulated: bool,
                    clock: Callable[[], float] = time.monotonic) -> SnapshotWriter:
    """The writer for an agent: off for simulated agents and for ``status_file = ""``."""
    path = cfg.agent.status_file
    return SnapshotWriter(path if path and not simulated else None, clock)
