"""Simulated probes (the Probe protocol) over one NodeModel: link, users and system."""

from __future__ import annotations

from typing import Any

from agent.probes.base import Probe
from agent.sim.model import NodeModel


class SimLinkProbe:
    """Fibre + LTE health, and events when fibre trouble starts or ends."""

    name = "link"

    def __init__(self, model: NodeModel) -> None:
        self.model = model

    def collect(self) -> dict[str, Any]:
        """This round's uplinks and any uplink events."""
        m = self.model.snapshot()
        return {"uplinks": [dict(u) for u in m.uplinks], "events": m.take_events()}


class SimUsersProbe:
    """Associated / authenticated / leased users by time of day."""

    name = "users"

    def __init__(self, model: NodeModel) -> None:
        self.model = model

    def collect(self) -> dict[str, Any]:
        """This round's user counts."""
        return {"users": dict(self.model.snapshot().users)}


class SimSystemProbe:
    """Pi health figures (CPU, memory, temperature, disk, uptime)."""

    name = "system"

    def __init__(self, model: NodeModel) -> None:
        self.model = model

    def collect(self) -> dict[str, Any]:
        """This round's system figures."""
        return {"system": dict(self.model.snapshot().system)}


def sim_probes(model: NodeModel) -> list[Probe]:
    """The three simulated probes of one node, sharing its model."""
    return [SimLinkProbe(model), SimUsersProbe(model), SimSystemProbe(model)]
