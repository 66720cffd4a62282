"""Command controller: central's commands through the gate to their handlers, with acks.

Each command gets one gate verdict (agent.policy.commands); an accepted one is acked
``accepted``, its params are checked against the protocol's one contract (protocol/params.py:
``rejected`` with its code, ``bad_params``, and a detail naming the field), then it is run by
the handler of its kind (throttle -> shaping controller, failover/failback -> failover
controller, reboot only when a hook is given) and acked ``applied`` or ``rejected``. Handlers look the controllers up on the host at call time, so a controller
attached after construction is used; a kind whose controller is absent is ``unsupported``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agent.clock import Clock, wall_ms
from agent.config import CommandsSection
from agent.controllers.cmdtrust import CommandTrust, payload_of
from agent.policy.commands import CommandGate, GateState, local_deadline
from agent.transport.statefile import read_json, write_json
from protocol.commands import KEY_COMMAND_KIND
from protocol.messages import Command, CommandAck, Event
from protocol.params import Failover, ParamsError, validate_params

if TYPE_CHECKING:
    from agent.controllers.shaping import Outcome

log = logging.getLogger(__name__)

Result = tuple[str, str] | tuple[str, str, str]  # (stage, code[, detail])
Handler = Callable[[Command], Result]
GATE_FILE = "commands.json"
REBOOT_DELAY_S = 3.0  # lets the "applied" ack leave before the node goes down
#: After a command from an older leader epoch (stale_epoch), re-publish the birth (which carries
#: the gate's epoch) at most this often, so a central whose database was lost catches up
#: without waiting for the node's next reconnect.
STALE_BIRTH_INTERVAL_S = 30.0


class Throttler(Protocol):
    """The shaping controller as the throttle handler sees it."""

    def handle_command(self, kind: str, params: Mapping[str, Any], version: int,
                       now: float) -> Outcome:
        """Apply a checked set_throttle/clear_throttle."""
        ...


class ManualFailover(Protocol):
    """The failover controller as the failover/failback handler sees it."""

    def force(self, kind: str, timeout_s: float | None = None,
              target: str | None = None) -> list[Event]:
        """A manual override (ValueError for a bad kind or target)."""
        ...


class CommandHost(Protocol):
    """What the handlers need of the agent: its controllers and its event queue."""

    @property
    def shaping(self) -> Throttler | None:
        """The shaping controller, if shaping is enabled."""

    @property
    def failover(self) -> ManualFailover | None:
        """The failover controller, once it runs."""

    def add_event(self, kind: str, severity: str, message: str, data: dict[str, Any]) -> None:
        """Queue an event for the outbox (thread-safe)."""


class CommandLink(Protocol):
    """How the controller answers central."""

    def send_ack(self, cmd: Command, ack: CommandAck) -> None:
        """Publish one ack of ``cmd``."""

    def publish_birth(self) -> None:
        """Re-publish the birth (carries the gate's epoch and versions)."""

    def resync_now(self) -> None:
        """Publish the birth and re-send everything unreceipted."""


def build_handlers(host: CommandHost, clock: Clock,
                   reboot: Callable[[], None] | None = None) -> dict[str, Handler]:
    """Handlers for every command kind the agent can act on (reboot if a hook is given)."""
    def throttle(cmd: Command) -> Result:
        ctl = host.shaping
        if ctl is None:
            return "rejected", "unsupported"
        out = ctl.handle_command(cmd.kind, cmd.params, cmd.version, clock())
        if out.stage == "applied":
            host.add_event("throttle", "info", f"{cmd.kind} v{cmd.version} applied",
                           {"version": cmd.version, "kind": cmd.kind, "params": dict(cmd.params)})
        else:
            log.warning("%s v%d rejected: %s %s", cmd.kind, cmd.version, out.code, out.detail)
        return out.stage, out.code, out.detail

    def failover(cmd: Command) -> Result:
        ctl = host.failover
        if ctl is None:
            return "rejected", "unsupported"
        params = validate_params(cmd.kind, cmd.params)  # typed: no float()/str() guessing
        if not isinstance(params, Failover):  # Failback is a Failover
            return "rejected", "unknown_kind", f"not a failover command: {cmd.kind}"
        try:
            events = ctl.force(cmd.kind, timeout_s=params.timeout_s, target=params.target)
        except ValueError as exc:  # e.g. target is not one of this node's uplinks
            log.warning("%s rejected: %s", cmd.kind, exc)
            return "rejected", "bad_params", str(exc)
        for ev in events:
            host.add_event(ev.kind, ev.severity, ev.message, ev.data)
        return "applied", "ok"

    def do_reboot(cmd: Command) -> Result:
        if reboot is None:
            return "rejected", "unsupported"
        host.add_event("reboot", "warning", "reboot requested by central", {"cmd_id": cmd.cmd_id})
        timer = threading.Timer(REBOOT_DELAY_S, reboot)
        timer.daemon = True
        timer.start()
        return "applied", "ok"

    return {"set_throttle": throttle, "clear_throttle": throttle, "failover": failover,
            "failback": failover, "reboot": do_reboot}


class CommandController:
    """One node's command path: gate verdict, acks, handler run, gate state persisted."""

    def __init__(self, site: str, node: str, state_dir: Path, host: CommandHost,
                 link: CommandLink, clock: Clock, reboot: Callable[[], None] | None = None,
                 trust: CommandsSection | None = None) -> None:
        self.site, self.node = site, node
        self._path = state_dir / GATE_FILE
        saved = read_json(self._path) or {}
        self.gate = CommandGate(site, node, GateState(
            **{k: int(v) for k, v in saved.items() if k in GateState.__dataclass_fields__
               and k != "recent_ids"},
            recent_ids=[str(i) for i in saved.get("recent_ids", [])][-64:]))
        self.trust = CommandTrust(trust or CommandsSection(), state_dir)
        self.handlers = build_handlers(host, clock, reboot)
        self.handlers[KEY_COMMAND_KIND] = self.trust.announce
        self._link = link
        self._clock = clock
        self._stale_birth_at = -STALE_BIRTH_INTERVAL_S

    def on_command(self, cmd: Command, received: float, expiry_s: float | None,
                   clock_synced: bool, raw: bytes | None = None) -> None:
        """Verify, decide, ack and (if accepted) run one command; persist the gate if it
        changed. ``raw`` is the payload as received (the signature covers all of it)."""
        payload = payload_of(cmd, raw)
        refused = self.trust.check(payload, cmd)
        if refused is not None:  # before the gate: a forged command must not move the epoch
            log.warning("command %s %s v%d: rejected %s", cmd.cmd_id, cmd.kind, cmd.version,
                        refused[0])
            self._ack(cmd, "rejected", *refused)
            return
        before = asdict(self.gate.state)
        deadline = local_deadline(cmd, received, expiry_s)
        d = self.gate.decide(cmd, deadline=deadline, now=self._clock(), wall_ms=wall_ms(),
                             clock_synced=clock_synced)
        log.info("command %s %s v%d: %s %s", cmd.cmd_id, cmd.kind, cmd.version, d.stage, d.code)
        if d.accepted:
            self.trust.accepted(payload, cmd)
            self._ack(cmd, "accepted", "ok")
            stage, code, detail = self._execute(cmd)
            if stage == "applied":
                self.gate.mark_applied(cmd)
            self._ack(cmd, stage, code, detail)
        else:
            self._ack(cmd, d.stage, d.code, d.detail)
            if d.code == "stale_epoch":
                self._birth_after_stale_epoch(cmd)
        if asdict(self.gate.state) != before:
            write_json(self._path, asdict(self.gate.state))

    def _ack(self, cmd: Command, stage: str, code: str, detail: str = "") -> None:
        self._link.send_ack(cmd, CommandAck.model_validate({
            "site": self.site, "node": self.node, "ts_ms": wall_ms(), "cmd_id": cmd.cmd_id,
            "stage": stage, "code": code, "detail": detail[:500],
            "applied_version": self.gate.state.applied_version}))

    def _birth_after_stale_epoch(self, cmd: Command) -> None:
        now = self._clock()
        if now - self._stale_birth_at < STALE_BIRTH_INTERVAL_S:
            return
        self._stale_birth_at = now
        log.warning("command %s has epoch %d, below the %d this node has seen (an old leader, or "
                    "central lost its database): re-publishing the birth so central can catch up",
                    cmd.cmd_id, cmd.epoch, self.gate.state.highest_epoch)
        self._link.publish_birth()

    def _execute(self, cmd: Command) -> tuple[str, str, str]:
        try:  # the protocol's one contract, for every kind, before any handler runs
            validate_params(cmd.kind, cmd.params)
        except ParamsError as exc:
            log.warning("command %s %s v%d: rejected %s: %s", cmd.cmd_id, cmd.kind, cmd.version,
                        exc.code, exc.detail)
            return "rejected", exc.code, exc.detail
        if cmd.kind == "resync" and "resync" not in self.handlers:
            self._link.resync_now()
            return "applied", "ok", ""
        handler = self.handlers.get(cmd.kind)
        if handler is None:
            return "rejected", "unsupported", f"no handler for {cmd.kind!r} on this node"
        try:
            res = handler(cmd)
            stage, code = res[0], res[1]
            detail = str(res[2]) if len(res) > 2 else ""
        except ParamsError as exc:  # a handler's own look at the params (same contract)
            return "rejected", exc.code, exc.detail
        except Exception as exc:
            log.exception("handler for %s failed", cmd.kind)
            return "rejected", "handler_error", f"{type(exc).__name__}: {exc}"
        if stage not in ("applied", "rejected"):
            log.error("handler for %s returned stage %r", cmd.kind, stage)
            return "rejected", "handler_error", f"handler returned stage {stage!r}"
        return stage, code, detail
