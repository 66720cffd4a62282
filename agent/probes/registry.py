"""Which probes a node runs, built from its config."""

from __future__ import annotations

from agent.config import AgentConfig
from agent.probes.base import Probe
from agent.probes.link import LinkProbe
from agent.probes.system import SystemProbe
from agent.probes.users import UsersProbe


def link_probes(cfg: AgentConfig) -> list[LinkProbe]:
    """One link probe per uplink; until failover says otherwise the lowest priority is active."""
    first = min(cfg.uplinks, key=lambda u: u.priority).name if cfg.uplinks else None
    return [LinkProbe(up, active=up.name == first) for up in cfg.uplinks]


def build_probes(cfg: AgentConfig) -> list[Probe]:
    """The probes for this node's configuration: link per uplink, users, system."""
    probes: list[Probe] = [*link_probes(cfg), UsersProbe(cfg.users), SystemProbe()]
    return probes
