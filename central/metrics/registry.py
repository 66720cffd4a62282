"""The app's CollectorRegistry: creation and rendering in Prometheus text format 0.0.4."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.registry import Collector

#: What generate_latest writes for names that are all legacy-valid (ours are): text format 0.0.4,
#: which every Prometheus (and Debian's 2.42) parses.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


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
