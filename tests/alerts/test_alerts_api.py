"""Integration: central's storage + alert task + API; fed like the collector, then via MQTT."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from paho.mqtt.enums import CallbackAPIVersion

from central.alerts.api import setup_alerts
from central.alerts.model import AlertConfig
from central.alerts.service import ALERTS
from central.api.app import make_app
from central.api.auth import TokenAuth
from central.collector import Collector
from central.collector.stats import Stats
from central.config import CentralConfig, RegistryNode, load_config
from central.metrics.alerts import AlertMetrics
from central.metrics.registry import new_registry, render
from central.storage import Incoming, Storage, open_storage
from protocol.messages import Birth, NodeState, Tele
from protocol.topics import Topics
from provisioning.localbroker import LocalBroker

ADMIN = "alerts-test-admin"
SITE = "taman-kota"
_ids = itertools.count(1)
Json = dict[str, Any]


async def alert_metrics(app: web.Application) -> str:
    """The alerts' /metrics families as Prometheus text (what central.assemble registers)."""
    return (await asyncio.to_thread(render, new_registry(AlertMetrics(app[ALERTS])))).decode()


def now_ms() -> int:
    """Wall-clock ms (central stamps received_ms with it)."""
    return int(time.time() * 1000)


def config(db: Path, **env: str) -> CentralConfig:
    """A central config on a temp DB with a bootstrap admin token."""
    return load_config(None, env={"KOTANET_DB": f"sqlite:///{db}", "KOTANET_ADMIN_TOKEN": ADMIN,
                                  "KOTANET_HTTP": "127.0.0.1:1", **env})


def birth(node: str, session: int, at: int) -> Json:
    """A birth body with a fibre primary and an LTE backup."""
    return {"schema": "kotanet.birth/1", "site": SITE, "node": node, "ts_ms": at,
            "session": session, "boot_id": "b1", "agent_version": "0.1.0", "config_hash": "h",
            "role": "park", "clock": {"synced": True, "wall_ms": at},
            "uplinks": [{"name": "fiber", "iface": "eth0", "priority": 0},
                        {"name": "lte", "iface": "wwan0", "kind": "lte", "priority": 10}]}


def tele(node: str, seq: int, sample_ts: Sequence[int], historical: bool = False,
         active: str = "fiber", **system: Any) -> Json:
    """A tele body with one sample per timestamp, one uplink active, the given system health."""
    return {"schema": "kotanet.tele/1", "site": SITE, "node": node, "ts_ms": now_ms(),
            "session": 1, "seq": seq, "historical": historical,
            "samples": [{"seq": seq + i, "ts_ms": ts, "system": system,
                         "uplinks": [{"name": active, "up": True, "active": True,
                                      "rtt_ms": 20.0, "loss_pct": 0.0}]}
                        for i, ts in enumerate(sample_ts)]}


async def poll(client: TestClient[web.Request, web.Application], path: str, token: str,
               until: Callable[[Json], bool], timeout_s: float = 15.0) -> Json:
    """GET path until until(body) holds (bounded); returns the body or fails."""
    deadline = time.monotonic() + timeout_s
    body: Json = {}
    while time.monotonic() < deadline:
        resp = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        if until(body):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting on {path}; last body {body}")


def by_node(body: Json) -> dict[str, list[str]]:
    """node -> alert kinds in an alert list body."""
    out: dict[str, list[str]] = {}
    for a in body["alerts"]:
        out.setdefault(a["node"], []).append(a["kind"])
    return out


def tokens(storage: Storage) -> tuple[str, str]:
    """A viewer and an operator token stored in central's DB."""
    auth = TokenAuth(storage, None)
    return auth.create("noc-screen", "viewer"), auth.create("noc-ani", "operator")


def test_api_lists_live_alerts_only_and_ack_changes_state(tmp_path: Path) -> None:
    """Offline, hot, on-LTE and gappy nodes alert; historical or late hot samples do not."""
    cfg = config(tmp_path / "central.db")
    storage = open_storage(cfg.storage.url)
    nodes = ["tk-off", "tk-hot", "tk-hist", "tk-late", "tk-lte", "tk-gap"]
    storage.sync_registry([RegistryNode(node=n, site=SITE) for n in nodes])
    viewer, operator = tokens(storage)
    t = now_ms()

    def inc(node: str, msg: Any, at: int) -> Incoming:
        return Incoming(SITE, node, msg, at)
    storage.write([inc(n, Birth.model_validate(birth(n, 1, t - 400_000)), t - 400_000)
                   for n in nodes])
    storage.write([
        inc("tk-off", NodeState(site=SITE, node="tk-off", ts_ms=t, online=False, session=1),
            t - 200_000),
        inc("tk-hot", Tele.model_validate(tele("tk-hot", 1, [t - 25_000, t - 15_000, t - 5000],
                                               temp_c=88.0)), t),
        inc("tk-hist", Tele.model_validate(tele("tk-hist", 1, [t - 25_000, t - 15_000,
                                                               t - 5000], True, temp_c=88.0)), t),
        inc("tk-late", Tele.model_validate(tele("tk-late", 1, [t - 900_000, t - 890_000,
                                                               t - 880_000], temp_c=88.0)), t),
        inc("tk-gap", Tele.model_validate(tele("tk-gap", 1, [t - 420_000, t - 410_000])),
            t - 400_000),
        inc("tk-gap", Tele.model_validate(tele("tk-gap", 10, [t - 390_000])), t - 390_000),
        inc("tk-gap", NodeState(site=SITE, node="tk-gap", ts_ms=t, online=True, session=1), t),
    ])
    storage.write([inc("tk-lte", Tele.model_validate(tele("tk-lte", i, [ts], active="lte")), ts)
                   for i, ts in enumerate(range(t - 150_000, t + 1, 10_000), start=1)])
    app = make_app(cfg, storage, Stats())
    # backup_s 60 s: the LTE run visible in the 120 s freshness window opens at the first tick;
    # clear_s 0: the offline alert resolves as soon as the node is back (no 60 s wait here)
    rules = AlertConfig(clear_s=0.0, backup_s=60.0)
    setup_alerts(app, storage, tmp_path / "central.db", cfg=rules, interval_s=0.05,
                 gap_grace_s=cfg.gap_grace_s)

    async def scenario() -> None:
        async with TestClient(TestServer(app)) as client:
            assert (await client.get("/api/v1/alerts")).status == 401
            body = await poll(client, "/api/v1/alerts?state=open", viewer,
                              lambda b: len(b["alerts"]) >= 4)
            assert by_node(body) == {"tk-off": ["offline"], "tk-hot": ["temperature"],
                                     "tk-lte": ["backup_uplink"], "tk-gap": ["delivery_gap"]}
            gap = next(a for a in body["alerts"] if a["node"] == "tk-gap")
            assert gap["evidence"]["first"] == [[3, 9]] and gap["evidence"]["missing"] == 7
            lte = next(a for a in body["alerts"] if a["node"] == "tk-lte")
            assert (lte["evidence"]["active"], lte["evidence"]["primary"]) == ("lte", "fiber")
            off = next(a for a in body["alerts"] if a["node"] == "tk-off")
            assert off["severity"] == "critical" and off["site"] == SITE
            assert off["evidence"]["offline_since_ms"] == t - 200_000
            assert "offline for 3 min" in off["message"]["en"]
            assert "offline selama 3 menit" in off["message"]["id"]
            assert 'kotanet_alerts_open{severity="critical"} 2' in await alert_metrics(app)

            path = f"/api/v1/alerts/{off['id']}/ack"
            resp = await client.post(path, headers={"Authorization": f"Bearer {viewer}"})
            assert resp.status == 403
            resp = await client.post(path, headers={"Authorization": f"Bearer {operator}"})
            assert resp.status == 200, await resp.text()
            acked = await resp.json()
            assert (acked["state"], acked["acked_by"]) == ("acknowledged", "noc-ani")
            body = await poll(client, "/api/v1/alerts?state=open", viewer, lambda b: True)
            assert "tk-off" not in by_node(body) and len(body["alerts"]) == 3
            body = await poll(client, "/api/v1/alerts?state=acknowledged", viewer, lambda b: True)
            assert [a["id"] for a in body["alerts"]] == [off["id"]]
            text = await alert_metrics(app)
            assert 'kotanet_alerts_open{severity="critical"} 1' in text
            assert 'kotanet_alerts_acknowledged{severity="critical"} 1' in text

            await asyncio.to_thread(storage.write, [inc("tk-off", NodeState(
                site=SITE, node="tk-off", ts_ms=now_ms(), online=True, session=2), now_ms())])
            body = await poll(client, f"/api/v1/alerts/{off['id']}", viewer,
                              lambda b: b["state"] == "resolved")
            assert body["resolved_ms"] >= body["opened_ms"] and body["acked_by"] == "noc-ani"
            resp = await client.post(path, headers={"Authorization": f"Bearer {operator}"})
            assert resp.status == 409
            resp = await client.get("/api/v1/alerts?state=bogus",
                                    headers={"Authorization": f"Bearer {viewer}"})
            assert resp.status == 400
            resp = await client.post("/api/v1/alerts/424242/ack",
                                     headers={"Authorization": f"Bearer {operator}"})
            assert resp.status == 404
    try:
        asyncio.run(scenario())
    finally:
        storage.close()


def test_node_publishing_over_mqtt_raises_alert_through_the_real_collector(
        broker: LocalBroker, tmp_path: Path) -> None:
    """A node (plain paho, its own broker login) reports live heat: the API shows the alert."""
    node = f"alrt{next(_ids)}-{time.monotonic_ns() % 10**9}"
    broker.add_user(node, f"pw-{node}")
    cfg = config(tmp_path / "central.db", KOTANET_MQTT_URL=broker.url("kt-test"))
    cfg = cfg.model_copy(update={"instance": f"ci-{node}", "strict_registry": True,
                                 "nodes": [RegistryNode(node=node, site=SITE)]})
    storage = open_storage(cfg.storage.url)
    storage.sync_registry(cfg.nodes)
    viewer, operator = tokens(storage)
    stats = Stats()
    collector = Collector(cfg, storage, stats)
    app = make_app(cfg, storage, stats, collector)
    svc = setup_alerts(app, storage, tmp_path / "central.db", interval_s=0.05)
    topics = Topics()
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id=node)
    pub.username_pw_set(node, f"pw-{node}")

    def send(kind: Any, body: Json) -> None:
        pub.publish(topics.node(SITE, node, kind), json.dumps(body), qos=1).wait_for_publish(5)

    async def scenario() -> None:
        async with TestClient(TestServer(app)) as client:
            for _ in range(200):
                if collector.ready.is_set():
                    break
                await asyncio.sleep(0.05)
            assert collector.ready.is_set(), "collector did not subscribe"
            t = now_ms()
            await asyncio.to_thread(send, "birth", birth(node, 1, t))
            # backlog from a power dip a minute ago, flagged historical, then live heat now
            await asyncio.to_thread(send, "tele", tele(node, 1, [t - 90_000, t - 80_000,
                                                                 t - 70_000], True,
                                                       undervoltage=True))
            await asyncio.to_thread(send, "tele", tele(node, 4, [t - 20_000, t - 10_000, t],
                                                       temp_c=86.5))
            await poll(client, f"/api/v1/nodes/{node}/samples", viewer,
                       lambda b: len(b["samples"]) == 6)  # both batches are stored
            seen = svc.rounds
            for _ in range(200):  # two full evaluation rounds after both batches were stored
                if svc.rounds >= seen + 2:
                    break
                await asyncio.sleep(0.05)
            body = await poll(client, f"/api/v1/alerts?node={node}", viewer, lambda b: True)
            ((alert),) = body["alerts"]  # temperature only: the historical under-voltage is not
            assert (alert["kind"], alert["state"]) == ("temperature", "open")
            assert alert["evidence"]["temp_c"] == 86.5
            resp = await client.post(f"/api/v1/alerts/{alert['id']}/ack",
                                     headers={"Authorization": f"Bearer {operator}"})
            assert resp.status == 200 and (await resp.json())["state"] == "acknowledged"
            body = await poll(client, f"/api/v1/alerts?node={node}&state=active", viewer,
                              lambda b: True)
            assert [(a["kind"], a["state"]) for a in body["alerts"]] == \
                [("temperature", "acknowledged")]
    pub.connect(broker.host, broker.port, keepalive=10)
    pub.loop_start()
    try:
        asyncio.run(scenario())
    finally:
        pub.disconnect()
        pub.loop_stop()
        storage.close()
