"""The demo fleet: Sampit sites from sampit.json, expanded to N nodes, plus their credentials."""

from __future__ import annotations

import json
import secrets
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

Kind = Literal["park", "office"]


@dataclass(frozen=True)
class SimSite:
    """One park or government office (SOPD) with approximate coordinates."""

    site: str
    name: str
    kind: Kind
    lat: float
    lon: float
    capacity_mbps: int
    peak_users: int
    profile: str = "default"


@dataclass(frozen=True)
class SimNode:
    """One simulated hotspot node at a site; ``index`` is its position in the fleet."""

    node: str
    site: SimSite
    index: int
    peak_users: int

    @property
    def role(self) -> Kind:
        """park or office, as the agent config and birth carry it."""
        return self.site.kind


def load_sites(path: str | Path | None = None) -> list[SimSite]:
    """Read the site list (default: the packaged agent/sim/sampit.json)."""
    if path is None:
        raw = resources.files("agent.sim").joinpath("sampit.json").read_text(encoding="utf-8")
    else:
        raw = Path(path).read_text(encoding="utf-8")
    data = json.loads(raw)
    return [SimSite(site=s["site"], name=s["name"], kind=s["kind"], lat=float(s["lat"]),
                 lon=float(s["lon"]), capacity_mbps=int(s["capacity_mbps"]),
                 peak_users=int(s["peak_users"]), profile=s.get("profile", "default"))
            for s in data["sites"]]


def build_fleet(n: int, sites: list[SimSite] | None = None) -> list[SimNode]:
    """N nodes, round-robin over the sites: 20 sites and N=50 gives 2-3 nodes per site."""
    if n < 1:
        raise ValueError("the fleet needs at least one node")
    sites = sites if sites is not None else load_sites()
    per_site = [n // len(sites) + (1 if i < n % len(sites) else 0) for i in range(len(sites))]
    nodes: list[SimNode] = []
    for i in range(n):
        site = sites[i % len(sites)]
        k = i // len(sites) + 1
        share = max(1, round(site.peak_users / per_site[i % len(sites)]))
        nodes.append(SimNode(node=f"{site.site}-{k:02d}", site=site, index=i, peak_users=share))
    return nodes


def select(nodes: list[SimNode], only: list[str] | None) -> list[SimNode]:
    """Keep only the named nodes (ValueError naming an unknown one)."""
    if not only:
        return nodes
    by_id = {n.node: n for n in nodes}
    unknown = [o for o in only if o not in by_id]
    if unknown:
        raise ValueError(f"unknown node(s) {', '.join(unknown)}; try --list")
    return [by_id[o] for o in only]


def registry(nodes: list[SimNode]) -> dict[str, Any]:
    """The node registry central reads (registry_file): {"nodes": [{node, site, role, name}]}."""
    return {"nodes": [{"node": n.node, "site": n.site.site, "role": n.role, "name": n.site.name}
                      for n in nodes]}


def generate_credentials(nodes: list[SimNode]) -> dict[str, str]:
    """A fresh random MQTT password per node: {node: password}."""
    return {n.node: secrets.token_urlsafe(18) for n in nodes}


def load_credentials(path: str | Path) -> dict[str, str]:
    """Read {node: password} from a JSON or TOML file."""
    p = Path(path)
    raw = p.read_text(encoding="utf-8")
    data: Any = json.loads(raw) if p.suffix == ".json" else tomllib.loads(raw)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"{p}: expected a table of node = \"password\"")
    return {str(k): v for k, v in data.items()}


def write_private(path: str | Path, text: str) -> None:
    """Write a file readable only by its owner (it may hold passwords)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.touch(mode=0o600, exist_ok=True)
    p.chmod(0o600)
    p.write_text(text, encoding="utf-8")
