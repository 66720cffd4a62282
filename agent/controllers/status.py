"""The node's status for its LEDs, read from the agent's parts through small read-only views.

``status_from(agent)`` builds the pure policy's NodeStatus (agent.policy.leds) from whatever
the agent has running: session, forwarder, outbox, failover controller, last sample.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from agent.config import AgentConfig
from agent.policy.leds import NodeStatus, Uplink
from protocol.messages import Sample

log = logging.getLogger(__name__)

TROUBLE_STATES = ("down", "flapping")


class SessionView(Protocol):
    """The MQTT session as the LEDs see it."""

    @property
    def connected(self) -> threading.Event:
        """Set while the broker connection is up."""


class ForwarderView(Protocol):
    """The forwarder as the LEDs see it."""

    @property
    def connected(self) -> bool:
        """True while connected (used when there is no session)."""

    @property
    def centrals(self) -> set[str]:
        """Central instances online now."""


class OutboxView(Protocol):
    """The outbox as the LEDs see it."""

    @property
    def count(self) -> int:
        """Records not yet receipted."""


class FailoverView(Protocol):
    """The failover controller as the LEDs see it."""

    @property
    def names(self) -> list[str]:
        """Uplink names, most preferred first."""

    @property
    def active(self) -> str | None:
        """The uplink carrying traffic."""

    def states(self) -> dict[str, str]:
        """Policy state of every uplink."""


class StatusSource(Protocol):
    """The parts of an agent its status LEDs reflect (each None until it exists)."""

    @property
    def cfg(self) -> AgentConfig:
        """The node's configuration (uplink order without failover)."""

    @property
    def session(self) -> SessionView | None:
        """The MQTT session."""

    @property
    def forwarder(self) -> ForwarderView | None:
        """The outbox's sending side."""

    @property
    def outbox(self) -> OutboxView | None:
        """The outbox."""

    @property
    def failover(self) -> FailoverView | None:
        """The failover controller, when failover runs."""

    @property
    def last_sample(self) -> Sample | None:
        """The newest sample (uplinks and Pi health without failover)."""


def _uplinks_from_failover(ctl: FailoverView) -> tuple[Uplink, bool]:
    names, active = ctl.names, ctl.active
    down = any(v in TROUBLE_STATES for v in ctl.states().values())
    if active is None:
        return "none", down
    return ("primary" if names and active == names[0] else "backup"), down


def _uplinks_from_sample(cfg: AgentConfig, sample: Sample | None) -> tuple[Uplink, bool]:
    ups = sample.uplinks if sample is not None else []
    if not ups:
        return "unknown", False
    down = any(u["up"] is False for u in ups)
    if all(u["up"] is False for u in ups):
        return "none", down
    order = [u.name for u in sorted(cfg.uplinks, key=lambda u: u.priority)]
    active = next((u["name"] for u in ups if u["active"]), None)
    if active is None or not order:
        return "unknown", down
    return ("primary" if active == order[0] else "backup"), down


def status_from(agent: StatusSource, sample: Sample | None = None,
                **overrides: Any) -> NodeStatus:
    """A NodeStatus from an agent's parts (each optional); overrides win."""
    fwd = agent.forwarder
    connected = (agent.session.connected.is_set() if agent.session is not None
                 else fwd is not None and fwd.connected)
    sample = sample if sample is not None else agent.last_sample
    try:
        uplink, down = (_uplinks_from_failover(agent.failover) if agent.failover is not None
                        else _uplinks_from_sample(agent.cfg, sample))
    except Exception:  # a half-started controller must not break the LEDs
        log.debug("uplink state unavailable", exc_info=True)
        uplink, down = "unknown", False
    system = sample.system if sample is not None else None
    fields: dict[str, Any] = {
        "mqtt_connected": connected,
        "central_online": fwd is not None and bool(fwd.centrals),
        "active_uplink": uplink,
        "uplink_down": down,
        "throttled": bool(system is not None and system.throttled),
        "undervoltage": bool(system is not None and system.undervoltage),
        "backlog": agent.outbox.count if agent.outbox is not None else 0,
    }
    fields.update(overrides)
    return NodeStatus(**fields)
