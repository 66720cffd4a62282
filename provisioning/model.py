"""The validated inventory: sites and nodes as typed, immutable-ish records."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Site:
    """A park or office."""

    id: str
    name: str
    kind: str
    lat: float
    lon: float
    capacity_down_kbps: int
    capacity_up_kbps: int
    upstream: str


@dataclass(frozen=True)
class Uplink:
    """One uplink of a node."""

    name: str
    iface: str
    kind: str
    priority: int
    gateway: str | None


@dataclass
class Node:
    """One hotspot node, validated."""

    id: str
    site: Site
    board: str
    uplinks: list[Uplink]
    ssid: str
    passphrase: str | None
    channel: int
    lan_subnet: ipaddress.IPv4Network
    gpio: dict[str, int | None] = field(default_factory=dict)
    #: private destinations this node's LAN may reach (e.g. an office intranet)
    allow_private: list[ipaddress.IPv4Network] = field(default_factory=list)


@dataclass
class Inventory:
    """A fully valid inventory."""

    sites: dict[str, Site]
    nodes: dict[str, Node]
