"""Integration: stored samples -> alert task -> incidents -> outbox -> a real loopback webhook;
the incident and maintenance JSON API with roles (viewer reads, operator acks and plans)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from test_alerts_api import SITE, birth, config, now_ms, poll, tele, tokens

from central.alerts.api import INCIDENTS, setup_alerts
from central.alerts.incidents import IncidentConfig, SiteInfo
from central.alerts.model import AlertConfig
from central.api.app import make_app
from central.collector.stats import Stats
from central.config import RegistryNode
from central.metrics.alerts import IncidentMetrics
from central.metrics.registry import render
from central.notify.config import NotifySection
from central.notify.outbox import OutboxStore, enqueue_hook
from central.notify.sender import Sender
from central.storage import Incoming, open_storage
from protocol.messages import Birth, Tele
from tests.notify.receivers import HttpReceiver

NODES = [f"tk-{i:02d}" for i in range(1, 8)]


def scrape(source: IncidentMetrics) -> dict[tuple[str, str], float]:
    """What Prometheus reads of the incidents: {(state, severity): value}."""
    reg = CollectorRegistry()
    reg.register(source)
    return {(smp.labels["state"], smp.labels["severity"]): smp.value
            for fam in text_string_to_metric_families(render(reg).decode())
            if fam.name == "kotanet_incidents_active" for smp in fam.samples}


def test_shared_upstream_failure_is_one_incident_acked_by_operator_and_announced_once(
        tmp_path: Path) -> None:
    db = tmp_path / "central.db"
    cfg = config(db)
    storage = open_storage(cfg.storage.url)
    storage.sync_registry([RegistryNode(node=n, site=SITE) for n in NODES])
    viewer, operator = tokens(storage)
    t = now_ms()
    storage.write([Incoming(SITE, n, Birth.model_validate(birth(n, 1, t - 400_000)),
                            t - 400_000) for n in NODES])
    # the shared fibre upstream failed 150 s ago: all seven nodes run on LTE since
    storage.write([Incoming(SITE, n, Tele.model_validate(tele(n, i, [ts], active="lte")), ts)
                   for n in NODES
                   for i, ts in enumerate(range(t - 150_000, t + 1, 10_000), start=1)])
    (tmp_path / "hook.key").write_text("webhook-key")

    async def scenario() -> None:
        recv = await HttpReceiver().start()
        ncfg = NotifySection.model_validate({
            "base_url": "https://noc.example.test", "retry_min_s": 0.1, "retry_max_s": 1,
            "channels": [{"id": "hook", "type": "webhook", "url": recv.url + "/hook",
                          "secret_file": str(tmp_path / "hook.key")}],
            "routes": [{"id": "hook", "channel": "hook", "lang": "en"}]})
        outbox = OutboxStore(db)
        sender = Sender(outbox, ncfg, "c1", poll_s=0.05)
        app = make_app(cfg, storage, Stats())
        svc = setup_alerts(app, storage, db, cfg=AlertConfig(backup_s=60.0), interval_s=0.05,
                     sites={SITE: SiteInfo("isp-a", "Fibre A", "park")},
                     incident_cfg=IncidentConfig(settle_s=0.5, resolve_hold_s=60),
                     on_notify=enqueue_hook(ncfg), on_queued=sender.wake)
        app.cleanup_ctx.append(sender.lifetime)
        auth = {"Authorization": f"Bearer {viewer}"}
        op = {"Authorization": f"Bearer {operator}"}
        try:
            async with TestClient(TestServer(app)) as client:
                assert (await client.get("/api/v1/incidents")).status == 401
                body = await poll(client, "/api/v1/incidents?state=open", viewer,
                                  lambda b: bool(b["incidents"]) and len(
                                      b["incidents"][0]["members"]) == 7)
                assert len(body["incidents"]) == 1
                inc = body["incidents"][0]
                assert inc["cause"] == {"key": "upstream_down", "upstream": "Fibre A",
                                        "site": SITE, "nodes": 7, "offline": 0}
                assert sorted(m["node"] for m in inc["members"]) == NODES
                # one opening message reaches the webhook (HMAC checked by the receiver)
                for _ in range(200):
                    if recv.webhooks:
                        break
                    await asyncio.sleep(0.05)
                assert [w["event"] for w in recv.webhooks] == ["opened"]
                assert "Upstream Fibre A down: 7 nodes on backup" in recv.webhooks[0]["text"]
                # ack: viewer refused, operator with a note
                path = f"/api/v1/incidents/{inc['id']}/ack"
                assert (await client.post(path, headers=auth, json={"note": "x"})).status == 403
                resp = await client.post(path, headers=op,
                                         json={"note": "Telkom ticket 4711 opened"})
                assert resp.status == 200, await resp.text()
                acked = await resp.json()
                assert (acked["state"], acked["acked_by"], acked["ack_note"]) == (
                    "acknowledged", "noc-ani", "Telkom ticket 4711 opened")
                detail = await (await client.get(f"/api/v1/incidents/{inc['id']}",
                                                 headers=auth)).json()
                kinds = [e["kind"] for e in detail["timeline"]]
                assert kinds[0] == "opened" and "notify" in kinds and kinds[-1] == "acknowledged"
                assert detail["timeline"][-1]["detail"]["note"] == "Telkom ticket 4711 opened"
                active = scrape(IncidentMetrics(app[INCIDENTS]))
                assert active[("acknowledged", "warning")] == 1
                assert active[("open", "warning")] == 0
                assert (await client.post(path, headers=op, json=[1])).status == 400
                assert (await client.get("/api/v1/incidents?severity=loud",
                                         headers=auth)).status == 400
                # maintenance window on tk-hot: its heat alert opens in maintenance, silently
                win = {"node": "tk-hot", "start_ms": now_ms() - 1000,
                       "end_ms": now_ms() + 3_600_000, "note": "fan replacement"}
                assert (await client.post("/api/v1/maintenance", headers=auth,
                                          json=win)).status == 403
                bad = {**win, "site": SITE}
                resp = await client.post("/api/v1/maintenance", headers=op, json=bad)
                assert resp.status == 400 and "exactly one" in (await resp.json())["error"]
                resp = await client.post("/api/v1/maintenance", headers=op, json=win)
                assert resp.status == 201, await resp.text()
                assert (await resp.json())["created_by"] == "noc-ani"
                hot = now_ms()
                await asyncio.to_thread(storage.sync_registry, [
                    RegistryNode(node=n, site=SITE) for n in [*NODES, "tk-hot"]])
                await asyncio.to_thread(storage.write, [
                    Incoming(SITE, "tk-hot", Birth.model_validate(birth("tk-hot", 1, hot)), hot),
                    Incoming(SITE, "tk-hot", Tele.model_validate(tele(
                        "tk-hot", 1, [hot - 25_000, hot - 15_000, hot - 5000], temp_c=88.0)),
                        hot)])
                body = await poll(client, "/api/v1/incidents?node=tk-hot", viewer,
                                  lambda b: bool(b["incidents"]))
                assert body["incidents"][0]["state"] == "maintenance"
                assert [(m["kind"], m["in_maintenance"]) for m in body["incidents"][0][
                    "members"]] == [("temperature", True)]
                r0 = svc.rounds  # 30 more rounds: well past the 0.5 s settle time
                for _ in range(600):
                    if svc.rounds >= r0 + 30:
                        break
                    await asyncio.sleep(0.05)
                assert svc.rounds >= r0 + 30
                assert [w["event"] for w in recv.webhooks] == ["opened"]
                rows = await asyncio.to_thread(outbox.rows)
                assert [r["incident_id"] for r in rows] == [inc["id"]]
                listed = await (await client.get("/api/v1/maintenance?current=1",
                                                 headers=auth)).json()
                assert [w["node"] for w in listed["windows"]] == ["tk-hot"]
        finally:
            await recv.stop()
            outbox.close()
    try:
        asyncio.run(scenario())
    finally:
        storage.close()

