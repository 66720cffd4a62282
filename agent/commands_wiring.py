"""Registers the agent's command handlers: throttle -> ShapingController, failover, reboot.

Handlers look the controllers up on the agent at call time (``agent.shaping``,
``agent.failover``), so a controller attached after construction is used. A kind whose
controller is absent is rejected ``unsupported``; reboot only when explicitly enabled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from protocol.messages import Command, Event, Shaping

if TYPE_CHECKING:
    from agent.runtime import Agent
    from agent.shaping import ShapingController

log = logging.getLogger(__name__)

Result = tuple[str, str] | tuple[str, str, str]  # (stage, code[, detail])
REBOOT_DELAY_S = 3.0  # lets the "applied" ack leave before the node goes down


def _throttle(agent: Agent, clock: Callable[[], float], cmd: Command) -> Result:
    ctl = getattr(agent, "shaping", None)
    if ctl is None or not hasattr(ctl, "handle_command"):
        return "rejected", "unsupported"
    out = ctl.handle_command(cmd.kind, cmd.params, cmd.version, clock())
    if out.stage == "applied":
        agent.add_event("throttle", "info", f"{cmd.kind} v{cmd.version} applied",
                        {"version": cmd.version, "kind": cmd.kind, "params": dict(cmd.params)})
    else:
        log.warning("%s v%d rejected: %s %s", cmd.kind, cmd.version, out.code, out.detail)
    return out.stage, out.code, out.detail


def _failover(agent: Agent, cmd: Command) -> Result:
    ctl = getattr(agent, "failover", None)
    if ctl is None or not hasattr(ctl, "force"):
        return "rejected", "unsupported"
    timeout = cmd.params.get("timeout_s")
    target = cmd.params.get("target")
    try:
        events = ctl.force(cmd.kind, timeout_s=float(timeout) if timeout is not None else None,
                           target=str(target) if target is not None else None)
    except (ValueError, TypeError) as exc:
        log.warning("%s rejected: %s", cmd.kind, exc)
        return "rejected", "bad_params"
    for ev in events:
        agent.add_event(ev.kind, ev.severity, ev.message, ev.data)
    return "applied", "ok"


def _reboot(agent: Agent, reboot: Callable[[], None] | None, cmd: Command) -> Result:
    if reboot is None:
        return "rejected", "unsupported"
    if cmd.params:
        return "rejected", "bad_params"
    agent.add_event("reboot", "warning", "reboot requested by central", {"cmd_id": cmd.cmd_id})
    timer = threading.Timer(REBOOT_DELAY_S, reboot)
    timer.daemon = True
    timer.start()
    return "applied", "ok"


def wire_commands(agent: Agent, clock: Callable[[], float],
                  reboot: Callable[[], None] | None = None) -> None:
    """Register handlers for every command kind the agent can act on (reboot if given)."""
    def throttle(cmd: Command) -> Result:
        return _throttle(agent, clock, cmd)

    def failover(cmd: Command) -> Result:
        return _failover(agent, cmd)

    def do_reboot(cmd: Command) -> Result:
        return _reboot(agent, reboot, cmd)

    handlers: dict[str, Any] = {"set_throttle": throttle, "clear_throttle": throttle,
                                "failover": failover, "failback": failover,
                                "reboot": do_reboot}
    agent.command_handlers.update(handlers)


def start_shaping(ctl: ShapingController | None) -> None:
    """Enforce the safe default at agent start (errors are logged, the agent runs on)."""
    if ctl is None:
        return
    try:
        ctl.start()
    except Exception:
        log.exception("could not enforce the safe shaping default at start")


def lease_tick(ctl: ShapingController | None, now: float) -> list[Event]:
    """Revert a lapsed throttle lease; returns the event reporting it (or nothing)."""
    if ctl is None or not ctl.tick(now):
        return []
    cur = ctl.current()
    return [Event.model_validate({
        "ts_ms": int(time.time() * 1000), "kind": "throttle_lease_expired",
        "severity": "warning",
        "message": "throttle lease lapsed without renewal: back to the safe default",
        "data": {"version": ctl.version, "shaping": cur.model_dump() if cur else None}})]


def current_shaping(ctl: ShapingController | None) -> Shaping | None:
    """What the node enforces now, for sample.shaping (None without a controller)."""
    return ctl.current() if ctl is not None else None
