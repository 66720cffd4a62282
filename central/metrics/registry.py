"""The app's CollectorRegistry: creation and rendering in Prometheus text format 0.0.4."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST


def new_registry(*collectors: Collector) -> CollectorRegistry:
    """A registry of its own (never the process-global default) holding ``collectors``."""
    reg = CollectorRegistry(auto_describe=True)
    for c in collectors:
        reg.register(c)
    return reg


def render(reg: CollectorRegistry) -> bytes:
    """Scrape every collector now (blocking: database reads) and format the text."""
    return generate_latest(reg)


def family_names(reg: CollectorRegistry) -> dict[str, str]:
    """Every family the registry exports (name -> type), from one collection now."""
    return {fam.name: fam.type for fam in reg.collect()}


def sample_names(families: dict[str, str]) -> set[str]:
    """The series names PromQL can select for ``families`` (counter: _total, histogram: parts)."""
    names: set[str] = set()
    for name, kind in families.items():
        if kind == "counter":
            names.add(f"{name}_total")
        elif kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            names.add(name)
    return names
