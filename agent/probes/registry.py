"""Which probes a node runs, built from its config."""

from __future__ import annotations

from agent.config import AgentConfig
from agent.probes.base import NotApplicable, Probe
from agent.probes.system import SystemProbe


class _Unavailable:
    """A probe whose real implementation is not here yet: honestly 'unavailable'."""

    def __init__(self, name: str, why: str) -> None:
        self.name = name
        self.why = why

    def collect(self) -> dict[str, object]:
        raise NotApplicable(self.why)


def build_probes(cfg: AgentConfig) -> list[Probe]:
    """The probes for this node's configuration."""
    return [
        SystemProbe(),
        _Unavailable("link", "link probe not implemented in this build"),
        _Unavailable("users", "users probe not implemented in this build"),
    ]
