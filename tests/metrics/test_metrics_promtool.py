"""/metrics follows Prometheus's naming rules (Debian's ``promtool check metrics`` on the real
output) and says what the stored fleet holds, in base units, with bounded labels."""


from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import shutil
import subprocess

from metrics_fixture import INTRUDER, SITE, metrics_app
from prometheus_client.parser import text_string_to_metric_families

PROMTOOL = "/usr/bin/promtool"


def promtool(text: str) -> subprocess.CompletedProcess[str]:
    """``promtool check metrics`` with text on stdin."""
    assert shutil.which(PROMTOOL), f"{PROMTOOL} missing: apt-get install prometheus"
    return subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=60, check=False)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """(series name, labels) -> value of every sample in the text."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_promtool_accepts_central_metrics(tmp_path: Path) -> None:
    m = metrics_app(tmp_path)
    try:
        text = m.text()
    finally:
        m.storage.close()
    res = promtool(text)
    assert res.returncode == 0 and not (res.stdout + res.stderr).strip(), \
        f"promtool: rc={res.returncode}\n{res.stdout}{res.stderr}"
    assert "kotanet_node_uplink_rtt_seconds" in text  # the per-node families were checked too


def test_promtool_catches_a_naming_mistake() -> None:
    """The check above can fail: a counter without _total and a non-base unit are reported."""
    res = promtool("# HELP kotanet_bad_ms Bad.\n# TYPE kotanet_bad_ms counter\nkotanet_bad_ms 1\n")
    assert res.returncode != 0 and "kotanet_bad_ms" in res.stdout + res.stderr


def test_metrics_values_units_and_bounded_labels(tmp_path: Path) -> None:
    m = metrics_app(tmp_path)
    try:
        got = samples(m.text())
    finally:
        m.storage.close()

    def val(name: str, **labels: str) -> float | None:
        return got.get((name, frozenset(labels.items())))

    n1, n2 = {"node": "tk-01", "site": SITE}, {"node": "tk-02", "site": SITE}
    assert (val("kotanet_node_online", **n1), val("kotanet_node_online", **n2)) == (1.0, 0.0)
    assert (val("kotanet_node_users", **n1), val("kotanet_node_users", **n2)) == (12.0, 3.0)
    assert val("kotanet_node_users_authenticated", **n1) == 6.0
    assert val("kotanet_node_uplink_rtt_seconds", **n1, uplink="fibre") == 0.018
    assert val("kotanet_node_uplink_loss_ratio", **n1, uplink="lte") == 0.01
    assert val("kotanet_node_uplink_active", **n2, uplink="lte") == 1.0
    assert val("kotanet_node_uplink_active", **n2, uplink="fibre") == 0.0
    assert val("kotanet_node_uplink_up", **n2, uplink="fibre") == 0.0
    assert val("kotanet_node_cpu_usage_ratio", **n1) == 0.12
    assert (val("kotanet_node_throttled", **n1), val("kotanet_node_throttled", **n2)) == (1, 0)
    assert val("kotanet_node_throttle_down_bytes_per_second", **n1) == 8000 * 1000 / 8
    assert val("kotanet_node_throttle_down_bytes_per_second", **n2) is None
    seen = val("kotanet_node_last_seen_timestamp_seconds", **n1)
    assert seen is not None and 1.7e9 < seen < 1e10  # seconds, not milliseconds
    assert val("kotanet_central_nodes", state="online") == 2.0  # tk-01 and the intruder
    assert val("kotanet_central_nodes_unregistered") == 1.0
    # Command stages, by kind: one set_throttle issued, accepted and applied.
    stages = {s: val("kotanet_central_commands_total", kind="set_throttle", stage=s)
              for s in ("issued", "accepted", "applied", "rejected")}
    assert stages == {"issued": 1, "accepted": 1, "applied": 1, "rejected": 0}
    # An unregistered publisher creates no per-node series and no node label of its own.
    assert not [k for k in got if any(INTRUDER in v for _, v in k[1])], \
        "an unregistered node id leaked into a label"
    assert val("kotanet_central_node_rejects_total", node="other") == 1.0
    assert val("kotanet_central_node_rejects_total", node="tk-01") == 1.0
    assert val("kotanet_central_limited_total", node="other") == 1.0


def test_metrics_answer_when_the_database_cannot_be_read(tmp_path: Path) -> None:
    """A database that fails is a 0 in kotanet_central_storage_up, not a failed scrape; the
    collector's own counters are still there."""
    m = metrics_app(tmp_path)
    assert val_of(m.text(), "kotanet_central_storage_up") == 1.0
    m.storage.close()  # every read now fails with StorageError
    text = m.text()
    assert val_of(text, "kotanet_central_storage_up") == 0.0
    assert val_of(text, "kotanet_central_rejects_total", reason="malformed") == 2.0
    assert "kotanet_node_online{" not in text
    assert promtool(text).returncode == 0


def val_of(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in the text (None if absent)."""
    return samples(text).get((name, frozenset(labels.items())))
