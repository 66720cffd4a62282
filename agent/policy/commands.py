"""The command gate: pure decisions on an incoming command (no I/O; times are passed in).

Order of checks: wrong node/site -> unknown kind -> replayed (cmd_id already accepted) -> stale
epoch -> expired -> superseded; the signature is checked before (agent.policy.signature). Only
an accepted command moves the highest epoch seen. ``resync`` is not desired state: it carries no version to apply, so it is never superseded
and never moves ``applied_version``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.commands import KEY_COMMAND_KIND
from protocol.messages import COMMAND_KINDS, Command

UNVERSIONED_KINDS = frozenset({"resync"})
THROTTLE_KINDS = frozenset({"set_throttle", "clear_throttle"})
GATE_KINDS = frozenset({*COMMAND_KINDS, KEY_COMMAND_KIND})
RECENT_IDS = 64  # cmd_ids of accepted commands remembered to refuse replays


@dataclass
class GateState:
    """What the gate remembers (persist it to survive restarts)."""

    highest_epoch: int = 0
    applied_version: int = 0
    throttle_version: int = 0
    recent_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict: stage "accepted" means go on and run the handler."""

    stage: str
    code: str
    detail: str = ""

    @property
    def accepted(self) -> bool:
        """True if the command should be executed."""
        return self.stage == "accepted"


def local_deadline(cmd: Command, received: float, mqtt_expiry_s: float | None = None) -> float:
    """Monotonic deadline fixed at receipt: receipt time + the command's lifetime.

    The lifetime is expires_at_ms - issued_at_ms (wall clocks of central only), shortened to
    the broker's remaining MQTT message expiry when that is known.
    """
    ttl = max(0.0, (cmd.expires_at_ms - cmd.issued_at_ms) / 1000.0)
    if mqtt_expiry_s is not None:
        ttl = min(ttl, max(0.0, mqtt_expiry_s))
    return received + ttl


class CommandGate:
    """Decides whether a command may run; updates its state only through its methods."""

    def __init__(self, site: str, node: str, state: GateState | None = None) -> None:
        self.site = site
        self.node = node
        self.state = state or GateState()

    def decide(self, cmd: Command, *, deadline: float, now: float, wall_ms: int,
               clock_synced: bool) -> GateDecision:
        """Verdict for cmd; ``deadline`` from local_deadline(), ``now`` on the same clock."""
        if cmd.site != self.site or cmd.node != self.node:
            return GateDecision("rejected", "wrong_node",
                            f"command for {cmd.site}/{cmd.node}, this is {self.site}/{self.node}")
        if cmd.kind not in GATE_KINDS:
            return GateDecision("rejected", "unknown_kind", f"unknown command kind {cmd.kind!r}")
        if cmd.cmd_id in self.state.recent_ids:
            return GateDecision("rejected", "replayed", f"{cmd.cmd_id} was already accepted")
        if cmd.epoch < self.state.highest_epoch:
            return GateDecision("rejected", "stale_epoch",
                            f"epoch {cmd.epoch} < highest seen {self.state.highest_epoch}")
        if now >= deadline:
            return GateDecision("expired", "expired", "local deadline passed")
        if clock_synced and wall_ms >= cmd.expires_at_ms:
            return GateDecision("expired", "expired", "expires_at_ms passed (clock synced)")
        if cmd.kind not in UNVERSIONED_KINDS and cmd.version <= self.state.applied_version:
            return GateDecision("superseded", "superseded",
                            f"version {cmd.version} <= applied {self.state.applied_version}")
        self.state.highest_epoch = cmd.epoch
        self.state.recent_ids = [*self.state.recent_ids, cmd.cmd_id][-RECENT_IDS:]
        return GateDecision("accepted", "ok")

    def mark_applied(self, cmd: Command) -> None:
        """Record that cmd was applied (versioned kinds only)."""
        if cmd.kind in UNVERSIONED_KINDS:
            return
        self.state.applied_version = max(self.state.applied_version, cmd.version)
        if cmd.kind in THROTTLE_KINDS:
            self.state.throttle_version = max(self.state.throttle_version, cmd.version)
