"""A real Prometheus scrapes a real kotanet-central's /metrics while a node reports over MQTT.

The node is a plain paho MQTT 5 client publishing a birth, one tele batch and one malformed
payload to a real mosquitto; central runs as the ``kotanet-central`` process; Prometheus is
Debian's ``/usr/bin/prometheus`` with its own config, a free loopback port and a temporary TSDB.
What is checked is what an operator sees in Prometheus: the target is up with no scrape error,
the metric types parsed as declared, and the kotanet series carry the values of that traffic.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from protocol.topics import Topics
from provisioning.localbroker import LocalBroker, free_port

PROMETHEUS = "/usr/bin/prometheus"
JOB = "kotanet-central"
SITE = "taman-kota"
NODE = "prom-node-1"
SUPERUSER = "kt-test"  # may use any topic prefix, so this test has its own
T = TypeVar("T")


def _until(fn: Callable[[], T | None], timeout_s: float, what: str,
           last: Callable[[], str] = lambda: "") -> T:
    """Poll fn until it returns a truthy value (returned); fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        val = fn()
        if val:
            return val
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what} {last()}")


def _http_json(url: str) -> dict[str, Any] | None:
    """GET url and decode JSON; None while the server is not answering."""
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            data: dict[str, Any] = json.loads(resp.read().decode())
            return data
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM, wait, SIGKILL as a last resort; the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout=10)


@dataclass
class Central:
    """A running kotanet-central process."""

    base: str
    port: int
    instance: str
    topics: Topics
    proc: subprocess.Popen[bytes]
    log: Path


class Prom:
    """Client for a running Prometheus's HTTP API."""

    def __init__(self, base: str, log: Path) -> None:
        self.base = base
        self.log = log

    def api(self, path: str, **params: str) -> dict[str, Any] | None:
        qs = f"?{urllib.parse.urlencode(params)}" if params else ""
        body = _http_json(f"{self.base}/api/v1/{path}{qs}")
        return body if body and body.get("status") == "success" else None

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """Instant query: (labels, value) per series; [] while unavailable."""
        body = self.api("query", query=promql)
        if body is None:
            return []
        return [(r["metric"], float(r["value"][1])) for r in body["data"]["result"]]

    def target(self) -> dict[str, Any] | None:
        """The active scrape target of central's job, as on Prometheus's targets page."""
        body = self.api("targets", state="active")
        found = [t for t in (body or {}).get("data", {}).get("activeTargets", [])
                 if t["labels"].get("job") == JOB]
        assert len(found) <= 1, found
        return found[0] if found else None

    def value(self, promql: str) -> float | None:
        """The value of a query expected to yield at most one series."""
        res = self.query(promql)
        assert len(res) <= 1, f"{promql} matched several series: {res}"
        return res[0][1] if res else None


class Node:
    """A plain paho MQTT 5 client publishing as a node would."""

    def __init__(self, broker: LocalBroker, topics: Topics) -> None:
        self.topics = topics
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=f"prom-node-{time.monotonic_ns()}")
        self.client.username_pw_set(SUPERUSER, broker.passwords[SUPERUSER])
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()
        self.states: dict[str, bool] = {}
        self.client.on_message = self._on_message

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.payload:
            self.states[msg.topic] = bool(json.loads(msg.payload)["online"])

    def watch_central(self, instance: str) -> None:
        self.client.subscribe(self.topics.central_state(instance), qos=1)

    def raw(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def send(self, kind: Any, body: dict[str, Any]) -> None:
        env = {"schema": f"kotanet.{kind}/1", "site": SITE, "node": NODE,
               "ts_ms": int(time.time() * 1000)}
        self.raw(self.topics.node(SITE, NODE, kind), json.dumps({**env, **body}).encode())

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def central(broker: LocalBroker, tmp_path: Path) -> Iterator[Central]:
    """kotanet-central on the test broker under a prefix of its own, API on a free port."""
    port = free_port()
    instance = f"prom-central-{os.getpid()}"
    prefix = f"kt-test/prom{time.monotonic_ns()}"
    cfg = tmp_path / "central.toml"
    cfg.write_text(f'instance = "{instance}"\ntopic_prefix = "{prefix}"\ngap_grace_s = 60\n'
                   f'[[nodes]]\nnode = "{NODE}"\nsite = "{SITE}"\nrole = "park"\n')
    env = {**os.environ, "KOTANET_MQTT_URL": broker.url(SUPERUSER),
           "KOTANET_DB": f"sqlite:///{tmp_path}/central.db",
           "KOTANET_HTTP": f"127.0.0.1:{port}", "KOTANET_ADMIN_TOKEN": "prom-test-token"}
    log = tmp_path / "central.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "central.cli", "--config", str(cfg)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    topics = Topics(prefix)
    try:
        yield Central(f"http://127.0.0.1:{port}", port, instance, topics, proc, log)
    finally:
        _stop(proc)
        cleaner = Node(broker, topics)  # clear central's retained state after it stopped
        try:
            cleaner.raw(topics.central_state(instance), b"", retain=True)
        finally:
            cleaner.close()


@contextlib.contextmanager
def run_prometheus(target_port: int, tmp_path: Path) -> Iterator[Prom]:
    """Debian's Prometheus scraping 127.0.0.1:target_port/metrics every second (own config,
    free loopback port, TSDB under tmp_path); stopped on exit."""
    assert shutil.which(PROMETHEUS), f"{PROMETHEUS} missing: apt-get install prometheus"
    port = free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        f"scrape_configs:\n  - job_name: {JOB}\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n")
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            assert proc.poll() is None, f"prometheus exited: {_tail(log)}"
            return _http_status(f"{base}/-/ready") == 200
        _until(ready, 30, "prometheus ready", lambda: _tail(log))
        yield Prom(base, log)
    finally:
        _stop(proc)


@pytest.fixture
def prometheus(central: Central, tmp_path: Path) -> Iterator[Prom]:
    """Prometheus scraping the ``central`` fixture's /metrics every second."""
    with run_prometheus(central.port, tmp_path) as prom:
        yield prom


@pytest.mark.broker
def test_prometheus_scrapes_central_metrics(broker: LocalBroker, central: Central,
                                            prometheus: Prom) -> None:
    node = Node(broker, central.topics)
    try:
        node.watch_central(central.instance)
        state_topic = central.topics.central_state(central.instance)
        _until(lambda: node.states.get(state_topic), 20, "central online over MQTT",
               lambda: _tail(central.log))
        node.send("birth", {"session": 1, "boot_id": "b-1", "agent_version": "0.1.0",
                            "config_hash": "abc", "role": "park",
                            "clock": {"synced": True, "wall_ms": 1}})
        now = int(time.time() * 1000)
        node.send("tele", {"session": 1, "seq": 1, "events": [], "dropped": [], "samples": [
            {"seq": s, "ts_ms": now - 1000 + s, "users": {"total": 3},
             "uplinks": [{"name": "wan", "active": True, "rtt_ms": 12.5, "loss_pct": 0.0}]}
            for s in (1, 2, 3)]})
        node.raw(central.topics.node(SITE, NODE, "tele"), b"{not json")

        # What an operator would graph: one value per series, as this traffic implies.
        expected = {
            f'up{{job="{JOB}"}}': 1.0,
            "kotanet_central_mqtt_connected": 1.0,
            'kotanet_central_messages_total{kind="birth"}': 1.0,
            'kotanet_central_messages_total{kind="tele"}': 1.0,
            'kotanet_central_rejects_total{reason="malformed"}': 1.0,
            'kotanet_central_nodes{state="online"}': 1.0,
            'kotanet_central_nodes{state="offline"}': 0.0,
            "kotanet_central_nodes_unregistered": 0.0,
            'kotanet_central_stored_records{table="samples"}': 3.0,
            "kotanet_central_records_written_total": 3.0,
            "kotanet_central_receipts_total": 1.0,
            "kotanet_central_write_errors_total": 0.0,
            "kotanet_alerts_evaluation_errors_total": 0.0,
        }
        seen: dict[str, float | None] = {}

        def all_match() -> bool:
            seen.update({q: prometheus.value(q) for q in expected})
            return seen == expected

        _until(all_match, 30, "Prometheus to hold the expected kotanet values",
               lambda: f"\nexpected {expected}\nseen     {seen}\n"
                       f"target   {prometheus.target()}\n{_tail(prometheus.log)}")

        # Only the malformed payload was rejected, under its reason label.
        rejects = prometheus.query("kotanet_central_rejects_total")
        assert [(r[0]["reason"], r[1]) for r in rejects] == [("malformed", 1.0)]
        # The histogram is usable: batches counted, the two stored messages in the sum (central
        # also counts the rejected message of a batch, so 3 is accepted too).
        batches = prometheus.value("kotanet_central_write_batch_size_count")
        assert batches is not None and batches >= 1
        assert prometheus.value("kotanet_central_write_batch_size_sum") in (2.0, 3.0)
        assert prometheus.value(
            'kotanet_central_write_batch_size_bucket{le="+Inf"}') == batches
        median = prometheus.value(
            "histogram_quantile(0.5, kotanet_central_write_batch_size_bucket)")
        assert median is not None and 0 < median <= 3
        # The central instance id is visible on the info series (Prometheus renames a scraped
        # "instance" label to "exported_instance", as its own target label wins).
        (info_labels, info_val), = prometheus.query("kotanet_central_info")
        assert info_val == 1.0 and central.instance in info_labels.values(), info_labels
        # Alert gauges exist for every severity, all zero for a healthy node.
        open_alerts = prometheus.query("kotanet_alerts_open")
        assert open_alerts and all(v == 0.0 for _, v in open_alerts), open_alerts
        assert {lab["severity"] for lab, _ in open_alerts} == {
            lab["severity"] for lab, _ in prometheus.query("kotanet_alerts_acknowledged")}

        # Prometheus parsed the # TYPE lines as declared (metadata comes from the scrapes).
        types = {name: prometheus.api("metadata", metric=name) for name in (
            "kotanet_central_messages_total", "kotanet_central_nodes",
            "kotanet_central_write_batch_size", "kotanet_alerts_open")}
        assert {n: [m["type"] for m in (b or {}).get("data", {}).get(n, [])]
                for n, b in types.items()} == {
            "kotanet_central_messages_total": ["counter"], "kotanet_central_nodes": ["gauge"],
            "kotanet_central_write_batch_size": ["histogram"], "kotanet_alerts_open": ["gauge"]}

        # The target page shows a healthy scrape: no error, nothing rejected by the parser.
        target = prometheus.target()
        assert target is not None
        assert target["health"] == "up", target
        assert target["lastError"] == "", target["lastError"]
        assert target["scrapeUrl"] == f"{central.base}/metrics"
    finally:
        node.close()
