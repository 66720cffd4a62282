"""Notifications end to end against real loopback receivers: an incident's state is written,
its messages are queued in the outbox in that transaction, the sender delivers them over
Telegram (Bot API shapes), SMTP with STARTTLS (aiosmtpd) and a signed webhook."""

from __future__ import annotations

import asyncio
import email
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from central.alerts.incident_store import IncidentStore
from central.alerts.incidents import ActiveAlert, IncidentConfig, SiteInfo
from central.clock import wall_ms
from central.notify.config import NotifySection
from central.notify.outbox import OutboxStore, enqueue_hook
from central.notify.sender import Sender
from tests.notify.receivers import HttpReceiver, free_port, smtp_server

T0 = 1_800_000_000_000
SITES = {"taman-kota": SiteInfo("isp-a", "Telkom A", "park")}
ICFG = IncidentConfig(settle_s=60, resolve_hold_s=300)
ROOT = Path(__file__).resolve().parents[2]


def notify_cfg(tmp: Path, http_url: str, smtp_port: int = 1, cert: Path | None = None,
               routes: tuple[str, ...] = ("tg", "mail", "hook"), **extra: Any) -> NotifySection:
    (tmp / "bot.token").write_text("123456:TEST-token\n")
    (tmp / "hook.key").write_text("webhook-key\n")
    channels = [
        {"id": "tg", "type": "telegram", "api_base": http_url,
         "bot_token_file": str(tmp / "bot.token")},
        {"id": "mail", "type": "email", "host": "127.0.0.1", "port": smtp_port,
         "from_addr": "kotanet@example.test", "ca_file": str(cert) if cert else None},
        {"id": "hook", "type": "webhook", "url": http_url + "/hook",
         "secret_file": str(tmp / "hook.key")}]
    all_routes = {
        "tg": {"id": "tg", "channel": "tg", "chat_id": "-100123", "lang": "id"},
        "mail": {"id": "mail", "channel": "mail", "to": ["noc@example.test"], "lang": "en"},
        "hook": {"id": "hook", "channel": "hook", "lang": "en"}}
    return NotifySection.model_validate({
        "base_url": "https://noc.example.test", "channels": channels,
        "routes": [all_routes[r] for r in routes], "retry_min_s": 1, "retry_max_s": 10,
        **extra})


def incident_cycle(db: Path | str, cfg: NotifySection, node: str = "tk-01", alert_id: int = 1,
                   t0: int = T0) -> IncidentStore:
    """Open (and announce) then resolve one offline incident through the incident store."""
    OutboxStore(db).close()  # the outbox table exists before the first round
    store = IncidentStore(db)
    hook = enqueue_hook(cfg)
    alert = ActiveAlert(alert_id, node, "taman-kota", "offline", "critical", t0)
    store.round([alert], SITES, t0, ICFG, hook)
    store.round([alert], SITES, t0 + 60_000, ICFG, hook)  # settled: announced
    store.round([], SITES, t0 + 120_000, ICFG, hook)
    store.round([], SITES, t0 + 420_000, ICFG, hook)  # clear for 300 s: resolved
    return store


def test_incident_reaches_telegram_smtp_starttls_and_signed_webhook(tmp_path: Path,
                                                                   state_db: str) -> None:
    async def main() -> None:
        recv = await HttpReceiver().start()
        ctl, box, cert, port = smtp_server(tmp_path)
        try:
            cfg = notify_cfg(tmp_path, recv.url, port, cert)
            db = state_db  # a SQLite file or PostgreSQL
            incident_cycle(db, cfg).close()
            outbox = OutboxStore(db)
            assert [(r["route"], r["state"]) for r in outbox.rows()] == [
                ("tg", "opened"), ("mail", "opened"), ("hook", "opened"),
                ("tg", "resolved"), ("mail", "resolved"), ("hook", "resolved")]
            sender = Sender(outbox, cfg, "central-1", clock_ms=lambda: T0 + 10**6)
            for _ in range(5):
                if await sender.drain() == 0:
                    break
            assert outbox.counts() == {"sent": 6}
            outbox.close()
        finally:
            ctl.stop()
            await recv.stop()
        # Telegram: sendMessage to the route's chat, in Bahasa Indonesia, with the node link
        assert [m["chat_id"] for m in recv.telegram] == ["-100123", "-100123"]
        assert "Insiden #1 dibuka" in recv.telegram[0]["text"]
        assert "Node tk-01 di taman-kota offline" in recv.telegram[0]["text"]
        assert "https://noc.example.test/noc/nodes/tk-01" in recv.telegram[0]["text"]
        assert "Insiden #1 selesai" in recv.telegram[1]["text"]
        # SMTP: both mails came over STARTTLS, in English, one Message-ID per message
        assert [tls for _, tls, _ in box.mails] == [True, True]
        mails = [email.message_from_bytes(raw) for raw, _, _ in box.mails]
        assert mails[0]["Subject"] == "[CRITICAL] Incident #1 opened"
        assert mails[1]["Subject"] == "[resolved] Incident #1 resolved"
        assert mails[0]["Message-ID"] == "<kotanet-incident-1-opened-mail@kotanet>"
        assert box.mails[0][2] == ["noc@example.test"]
        # webhook: HMAC checked by the receiver, documented payload
        assert recv.bad_signatures == 0
        assert [w["event"] for w in recv.webhooks] == ["opened", "resolved"]
        first = recv.webhooks[0]
        assert first["incident"]["cause"]["key"] == "node_offline"
        assert first["incident"]["severity"] == "critical"
        assert first["link"] == "https://noc.example.test/noc/nodes/tk-01"
        assert first["idempotency_key"] == "kotanet-incident-1-opened-hook"
    asyncio.run(main())


def test_wrong_webhook_key_is_refused_and_retried_not_lost(tmp_path: Path) -> None:
    async def main() -> None:
        recv = await HttpReceiver(secret=b"another-key").start()
        try:
            cfg = notify_cfg(tmp_path, recv.url, routes=("hook",))
            db = tmp_path / "state.db"
            outbox = OutboxStore(db)
            outbox.add("k1", "hook", "test", {"idempotency_key": "k1", "text": "x"}, T0)
            now = [T0]
            sender = Sender(outbox, cfg, "c1", clock_ms=lambda: now[0])
            assert await sender.drain() == 0
            row = outbox.rows()[0]
            assert row["status"] == "pending" and row["attempts"] == 1
            assert row["last_error"] == "webhook answered HTTP 401"
            assert T0 + 500 <= row["next_ms"] <= T0 + 1000  # 1 s backoff, jitter in [0.5, 1)
            outbox.close()
        finally:
            await recv.stop()
        assert recv.bad_signatures == 1 and recv.webhooks == []
    asyncio.run(main())


def test_receiver_down_for_a_while_gets_every_message_once_in_order(tmp_path: Path) -> None:
    async def main() -> None:
        port = free_port()
        cfg = notify_cfg(tmp_path, f"http://127.0.0.1:{port}", routes=("hook",))
        db = tmp_path / "state.db"
        for i in range(5):  # five incidents, each opened then resolved: ten messages
            incident_cycle(db, cfg, node=f"tk-{i:02d}", alert_id=i + 1,
                           t0=T0 + i * 1000).close()
        outbox = OutboxStore(db)
        expected = [r["dedup"] for r in outbox.rows()]
        assert len(expected) == 10
        now = [T0 + 10**6]
        sender = Sender(outbox, cfg, "c1", clock_ms=lambda: now[0])
        for _ in range(6):  # nobody listens: connection refused, retried with backoff
            await sender.drain()
            now[0] += 20_000
        assert outbox.counts() == {"pending": 10}
        assert outbox.rows()[0]["attempts"] == 6 and outbox.rows()[1]["attempts"] == 0
        recv = await HttpReceiver(fail=3).start(port)  # back, but answers 503 three times
        try:
            for _ in range(30):
                await sender.drain()
                if outbox.counts() == {"sent": 10}:
                    break
                now[0] += 20_000
            assert outbox.counts() == {"sent": 10}
        finally:
            outbox.close()
            await recv.stop()
        assert recv.keys == expected  # each once, in the order they were queued
        assert [w["idempotency_key"] for w in recv.webhooks] == expected
    asyncio.run(main())


def test_only_the_leader_sends(tmp_path: Path) -> None:
    async def main() -> None:
        recv = await HttpReceiver().start()
        try:
            cfg = notify_cfg(tmp_path, recv.url, routes=("hook",))
            outbox = OutboxStore(tmp_path / "state.db")
            outbox.add("k1", "hook", "opened", {"idempotency_key": "k1"}, T0)
            leads = [False]
            sender = Sender(outbox, cfg, "c1", is_leader=lambda: leads[0],
                            clock_ms=lambda: T0 + 1000)
            assert await sender.drain() == 0
            assert [(r["status"], r["attempts"]) for r in outbox.rows()] == [("pending", 0)]
            leads[0] = True
            assert await sender.drain() == 1
            outbox.close()
        finally:
            await recv.stop()
        assert recv.keys == ["k1"]
    asyncio.run(main())


def test_delivered_rows_are_pruned_after_90_days_unsent_never(tmp_path: Path) -> None:
    outbox = OutboxStore(tmp_path / "state.db")
    day = 86_400_000
    for i in range(3):
        outbox.add(f"k{i}", f"r{i}", "opened", {}, T0)
    outbox.mark_sent(1, T0)  # k0 delivered
    assert outbox.claim("r1", "c1", T0) is not None  # k1 in flight, k2 pending
    assert outbox.prune(T0 - day) == 0  # nothing queued before the cut-off
    assert outbox.prune(T0 + day) == 1  # the delivered row only
    assert [(r["dedup"], r["status"]) for r in outbox.rows()] == [("k1", "sending"),
                                                                   ("k2", "pending")]
    outbox.close()


DELIVER = """
import asyncio, json, sys
from central.notify.config import NotifySection
from central.notify.outbox import OutboxStore
from central.notify.sender import Sender
cfg = NotifySection.model_validate(json.loads(sys.argv[2]))
async def main():
    await Sender(OutboxStore(sys.argv[1]), cfg, sys.argv[3], poll_s=0.05).run()
asyncio.run(main())
"""


def test_sender_killed_mid_delivery_loses_none_and_sends_none_twice(tmp_path: Path) -> None:
    """A sender process is SIGKILLed while the receiver holds message 3: rows 1-2 are sent and
    never repeated, row 3 stays 'sending'; the next process delivers 3 again with the SAME
    idempotency key (the receiver keeps it once), then 4-6, in order."""
    async def main() -> None:
        recv = await HttpReceiver().start()
        try:
            (tmp_path / "hook.key").write_text("webhook-key")
            raw = {"channels": [{"id": "hook", "type": "webhook", "url": recv.url + "/hook",
                                 "secret_file": str(tmp_path / "hook.key")}],
                   "routes": [{"id": "hook", "channel": "hook", "lang": "en"}],
                   "retry_min_s": 0.1, "retry_max_s": 1}
            db = tmp_path / "state.db"
            outbox = OutboxStore(db)
            keys = [f"kotanet-incident-{i}-opened-hook" for i in range(1, 7)]
            for k in keys:
                outbox.add(k, "hook", "opened", {"idempotency_key": k, "event": "opened"},
                           wall_ms())
            recv.hold = keys[2]
            env = {**os.environ, "PYTHONPATH": str(ROOT)}

            async def start(name: str) -> asyncio.subprocess.Process:
                return await asyncio.create_subprocess_exec(
                    sys.executable, "-c", DELIVER, str(db), json.dumps(raw), name, env=env,
                    cwd=ROOT)
            first = await start("central-1")
            try:
                await asyncio.wait_for(recv.arrived.wait(), 30)
            finally:
                first.kill()  # SIGKILL while message 3 is in flight
                await first.wait()
            assert first.returncode == -9
            assert [r["status"] for r in outbox.rows()] == ["sent", "sent", "sending",
                                                            "pending", "pending", "pending"]
            recv.hold = None
            recv.release.set()
            second = await start("central-2")
            try:
                for _ in range(600):  # bounded: 60 s
                    if outbox.counts() == {"sent": 6}:
                        break
                    await asyncio.sleep(0.1)
            finally:
                second.terminate()
                await second.wait()
            assert outbox.counts() == {"sent": 6}
            assert [r["claimed_by"] for r in outbox.rows()] == [
                "central-1", "central-1", "central-2", "central-2", "central-2", "central-2"]
            outbox.close()
        finally:
            await recv.stop()
        # arrivals: 1, 2, 3 (killed), 3 again with the same key, 4, 5, 6: none of the sent ones
        # twice; the receiver-side idempotency key makes the in-flight one count once
        assert recv.keys == [*keys[:3], keys[2], *keys[3:]]
        assert [w["idempotency_key"] for w in recv.webhooks] == keys
        assert len(set(recv.keys)) == 6
    asyncio.run(main())


def test_secret_never_in_config_repr_or_errors(tmp_path: Path) -> None:
    cfg = notify_cfg(tmp_path, "http://127.0.0.1:1")
    assert "TEST-token" not in repr(cfg) and "webhook-key" not in repr(cfg)
    with pytest.raises(ValueError, match="secret"):
        NotifySection.model_validate({"channels": [
            {"id": "h", "type": "webhook", "url": "http://x/", "secret": "inline"}]})


def test_malformed_row_backs_off_instead_of_spinning(tmp_path: Path) -> None:
    async def main() -> None:
        cfg = notify_cfg(tmp_path, "http://127.0.0.1:1", routes=("hook",))
        outbox = OutboxStore(tmp_path / "state.db")
        outbox.add("k1", "hook", "opened", {"text": "no idempotency key"}, T0)
        sender = Sender(outbox, cfg, "c1", clock_ms=lambda: T0)
        assert await sender.drain() == 0
        row = outbox.rows()[0]
        assert (row["status"], row["attempts"]) == ("pending", 1)
        assert row["last_error"] == "internal error: KeyError" and row["next_ms"] > T0
        outbox.close()
    asyncio.run(main())


def test_unannounced_node_incident_merges_into_upstream_incident_in_the_store(
        tmp_path: Path, state_db: str) -> None:
    cfg = notify_cfg(tmp_path, "http://127.0.0.1:1", routes=("hook",))
    db = state_db  # a SQLite file or PostgreSQL
    outbox = OutboxStore(db)
    store = IncidentStore(db)
    hook = enqueue_hook(cfg)
    a = ActiveAlert(1, "tk-01", "taman-kota", "offline", "critical", T0)
    b = ActiveAlert(2, "tk-02", "taman-kota", "offline", "critical", T0 + 10_000)
    store.round([a], SITES, T0, ICFG, hook)
    store.round([a, b], SITES, T0 + 10_000, ICFG, hook)
    store.round([a, b], SITES, T0 + 70_000, ICFG, hook)
    first, second = store.get(1), store.get(2)
    assert first is not None and second is not None
    assert first["state"] == "resolved" and first["timeline"][-1]["kind"] == "merged"
    assert first["timeline"][-1]["detail"] == {"into": "upstream:isp-a"}
    assert second["key"] == "upstream:isp-a" and second["state"] == "open"
    assert sorted(m["node"] for m in second["members"]) == ["tk-01", "tk-02"]
    assert second["cause"]["key"] == "upstream_unreachable"
    assert [(r["incident_id"], r["state"]) for r in outbox.rows()] == [(2, "opened")]
    assert "Upstream Telkom A unreachable: 2 nodes offline" in outbox.rows()[0]["payload"]["text"]
    store.close()
    outbox.close()
