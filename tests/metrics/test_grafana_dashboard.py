"""The Grafana dashboard in docs/ charts only what central exports: every PromQL expression in
it (panel targets and template variables) parses (Debian's promtool, as recording rules), and
every metric name it selects is a series central's own /metrics registry exposes."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import yaml
from metrics_fixture import metrics_app

from central.api.state import METRICS
from central.metrics.registry import family_names, sample_names

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "kotanet-dashboard.json"
PROMTOOL = "/usr/bin/promtool"
#: Series Prometheus itself adds to every scrape.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
#: What Grafana substitutes before the query reaches Prometheus.
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h",
                "$node": "tk-01", "${node}": "tk-01", "$site": ".*", "${site}": ".*"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan", "atan2"}
LABEL_VALUES = re.compile(r"^label_values\((.*),\s*([a-zA-Z_]\w*)\)$")


def expressions(dash: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and query variable (label_values -> its selector)."""
    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for p in items:
            yield p
            yield from panels(p.get("panels", []))
    for p in panels(dash["panels"]):
        for t in p.get("targets", []):
            yield f"panel {p['title']!r}", t["expr"]
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = LABEL_VALUES.match(q.strip())
            assert m, f"variable {v['name']}: only label_values(selector, label) is used: {q}"
            yield f"variable {v['name']}", m.group(1)


def grafana_to_promql(expr: str) -> str:
    """The expression as Prometheus receives it."""
    for var, value in sorted(GRAFANA_VARS.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects: identifiers outside strings, label matchers,
    ranges and grouping clauses that are not functions, keywords or numbers."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", s):
        word, rest = m.group(0), s[m.end():].lstrip()
        if rest.startswith("(") or word in KEYWORDS:
            continue
        if m.start() > 0 and (s[m.start() - 1].isdigit() or s[m.start() - 1] == "."):
            continue  # the exponent or unit of a number (1e3, 5m)
        names.add(word)
    return names


def exported(tmp: Path) -> set[str]:
    """Series names central's registry exposes (from a real app with a stored fleet)."""
    m = metrics_app(tmp)
    try:
        return sample_names(family_names(m.app[METRICS]))
    finally:
        m.storage.close()


def test_extractor_finds_metric_names() -> None:
    assert metric_names('sum by (site) (rate(kotanet_a_total{node="x"}[5m])) / 1e3') \
        == {"kotanet_a_total"}
    assert metric_names("kotanet_b and on (node) (kotanet_c == 0) or vector(0)") \
        == {"kotanet_b", "kotanet_c"}
    assert metric_names("histogram_quantile(0.9, sum by (le) (rate(x_bucket[1m])))") \
        == {"x_bucket"}


def test_dashboard_names_only_exported_metrics(tmp_path: Path) -> None:
    dash = json.loads(DASHBOARD.read_text())
    allowed = exported(tmp_path) | PROMETHEUS_SERIES
    exprs = list(expressions(dash))
    assert len(exprs) >= 30, "the dashboard lost its panels"
    unknown = {f"{where}: {name}" for where, e in exprs for name in metric_names(e)
               if name not in allowed}
    assert not unknown, "dashboard names metrics central does not export:\n" + \
        "\n".join(sorted(unknown))
    used = {n for _, e in exprs for n in metric_names(e)}
    # It covers the three views: fleet, one node ($node), collector health.
    assert {"kotanet_node_online", "kotanet_node_users", "kotanet_node_uplink_rtt_seconds",
            "kotanet_node_uplink_loss_ratio", "kotanet_central_messages_total",
            "kotanet_central_rejects_total", "kotanet_central_commands_total"} <= used
    assert any('node="$node"' in e for _, e in exprs)
    rows = [p["title"] for p in dash["panels"] if p["type"] == "row"]
    assert len(rows) == 3, rows


def test_dashboard_expressions_parse(tmp_path: Path) -> None:
    """promtool parses each expression (as a recording rule) after Grafana's substitutions."""
    assert shutil.which(PROMTOOL), f"{PROMTOOL} missing: apt-get install prometheus"
    dash = json.loads(DASHBOARD.read_text())
    rules = [{"record": f"kotanet:dashboard_expr_{i}", "expr": grafana_to_promql(e)}
             for i, (_, e) in enumerate(expressions(dash))]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    res = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=60, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
