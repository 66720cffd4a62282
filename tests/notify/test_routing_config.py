"""Routing (severity, site, site kind, time of day, quiet hours), the [notify] TOML section with
secrets from files and environment, and the notify test / report budget subcommands."""

from __future__ import annotations

import asyncio
import csv
import email
import io
import logging
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from central.alerts.incident_store import IncidentStore
from central.alerts.incidents import ActiveAlert, IncidentConfig, SiteInfo
from central.config import ConfigError, load_config
from central.notify.catalogue import catalogue
from central.notify.config import NotifySection
from central.notify.outbox import OutboxStore, enqueue_hook
from central.notify.routing import in_hours, pick
from tests.notify.receivers import HttpReceiver

ROOT = Path(__file__).resolve().parents[2]
WIB = ZoneInfo("Asia/Jakarta")


def at(hh: int, mm: int = 0) -> int:
    return int(datetime(2026, 12, 8, hh, mm, tzinfo=WIB).timestamp() * 1000)


ROUTES = NotifySection.model_validate({
    "channels": [{"id": "m", "type": "email", "host": "127.0.0.1",
                  "from_addr": "k@example.test"}],
    "routes": [
        {"id": "office-day", "channel": "m", "to": ["a@x"], "site_kinds": ["office"],
         "active_hours": "07:00-16:00"},
        {"id": "oncall", "channel": "m", "to": ["b@x"], "min_severity": "critical",
         "quiet_hours": "22:00-06:00", "quiet_min_severity": "critical"},
        {"id": "parks", "channel": "m", "to": ["c@x"], "sites": ["taman-kota"],
         "quiet_hours": "22:00-06:00"}]}).routes
OFFICE = {"site": "kantor-dinas", "site_kind": "office"}
PARK = {"site": "taman-kota", "site_kind": "park"}


def test_routes_filter_by_kind_site_severity_and_time_of_day() -> None:
    assert pick(ROUTES, OFFICE, "opened", "warning", at(9), "Asia/Jakarta", []) == [
        ("office-day", "pending")]
    assert pick(ROUTES, OFFICE, "opened", "warning", at(20), "Asia/Jakarta", []) == []
    assert pick(ROUTES, OFFICE, "opened", "critical", at(20), "Asia/Jakarta", []) == [
        ("oncall", "pending")]
    assert pick(ROUTES, PARK, "opened", "warning", at(12), "Asia/Jakarta", []) == [
        ("parks", "pending")]
    # quiet hours: a park warning at 23:00 is skipped (recorded, not sent), a critical is sent
    assert pick(ROUTES, PARK, "opened", "warning", at(23), "Asia/Jakarta", []) == [
        ("parks", "skipped")]
    assert pick(ROUTES, PARK, "opened", "critical", at(2), "Asia/Jakarta", []) == [
        ("oncall", "pending"), ("parks", "pending")]
    # a resolution goes to exactly the routes that were told, whatever the time
    assert pick(ROUTES, OFFICE, "resolved", "warning", at(20), "Asia/Jakarta",
                ["office-day"]) == [("office-day", "pending")]
    assert in_hours("22:00-06:00", 23 * 60) and in_hours("22:00-06:00", 5 * 60)
    assert not in_hours("22:00-06:00", 6 * 60) and not in_hours("07:00-16:00", 16 * 60)


def test_quiet_hours_skip_is_recorded_and_no_resolution_follows(state_db: str) -> None:
    cfg = NotifySection.model_validate({
        "channels": [{"id": "m", "type": "email", "host": "127.0.0.1",
                      "from_addr": "k@example.test"}],
        "routes": [{"id": "parks", "channel": "m", "to": ["c@x"],
                    "quiet_hours": "22:00-06:00"}]})
    db = state_db  # a SQLite file or PostgreSQL
    outbox = OutboxStore(db)
    store = IncidentStore(db)
    icfg = IncidentConfig(settle_s=0, resolve_hold_s=0)
    sites = {"taman-kota": SiteInfo(None, "", "park")}
    a = ActiveAlert(1, "tk-01", "taman-kota", "disk_full", "warning", at(23))
    store.round([a], sites, at(23), icfg, enqueue_hook(cfg))
    store.round([], sites, at(23, 5), icfg, enqueue_hook(cfg))
    assert [(r["state"], r["status"]) for r in outbox.rows()] == [("opened", "skipped")]
    store.close()
    outbox.close()


def test_notify_section_reads_secrets_from_file_and_env_never_shows_them(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "bot.token").write_text("999:SECRET-BOT\n")
    toml = tmp_path / "central.toml"
    toml.write_text("""
[notify]
base_url = "https://noc.example.test"
[[notify.channels]]
id = "tg"
type = "telegram"
bot_token_file = "bot.token"
[[notify.channels]]
id = "hook"
type = "webhook"
url = "https://hooks.example.test/kotanet"
secret_env = "KOTANET_HOOK_KEY"
[[notify.routes]]
id = "ops"
channel = "tg"
chat_id = "-1001"
""".replace('"bot.token"', f'"{tmp_path / "bot.token"}"'))
    with caplog.at_level(logging.DEBUG):
        cfg = load_config(toml, env={"KOTANET_HOOK_KEY": "SECRET-HMAC"})
    tg, hook = cfg.notify.channels
    assert tg.secret is not None and tg.secret.get_secret_value() == "999:SECRET-BOT"
    assert hook.secret is not None and hook.secret.get_secret_value() == "SECRET-HMAC"
    shown = repr(cfg) + str(cfg.model_dump()) + cfg.model_dump_json() + caplog.text
    assert "SECRET" not in shown
    with pytest.raises(ConfigError, match="KOTANET_HOOK_KEY is not set"):
        load_config(toml, env={})
    bad = toml.read_text().replace('channel = "tg"', 'channel = "nope"')
    toml.write_text(bad)
    with pytest.raises(ConfigError, match="unknown channel 'nope'"):
        load_config(toml, env={"KOTANET_HOOK_KEY": "x"})


def test_catalogue_has_every_key_in_both_languages() -> None:
    cat = catalogue()
    assert set(cat["en"]) == set(cat["id"]) and len(cat["en"]) > 20


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "central.cli", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


def test_notify_test_sends_over_the_route_and_reports_failure(tmp_path: Path) -> None:
    ready = threading.Event()
    box: dict[str, object] = {}
    stop = threading.Event()

    def serve() -> None:
        async def main() -> None:
            recv = await HttpReceiver().start()
            box["recv"] = recv
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)
            await recv.stop()
        asyncio.run(main())
    th = threading.Thread(target=serve)
    th.start()
    try:
        assert ready.wait(30)
        recv = box["recv"]
        assert isinstance(recv, HttpReceiver)
        (tmp_path / "bot.token").write_text("123456:TEST-token")
        cfg = tmp_path / "c.toml"
        cfg.write_text(f"""
[[notify.channels]]
id = "tg"
type = "telegram"
api_base = "{recv.url}"
bot_token_file = "{tmp_path / 'bot.token'}"
[[notify.routes]]
id = "ops"
channel = "tg"
chat_id = "-1001"
lang = "id"
""")
        out = run_cli("--config", str(cfg), "notify", "test", "ops")
        assert out.returncode == 0, out.stderr
        assert "test message sent over route ops" in out.stdout
        assert [m["chat_id"] for m in recv.telegram] == ["-1001"]
        assert "Ini pesan uji untuk rute ops" in str(recv.telegram[0]["text"])
        out = run_cli("--config", str(cfg), "notify", "test", "nope")
        assert out.returncode == 2 and "unknown route 'nope' (ops)" in out.stderr
        (tmp_path / "bot.token").write_text("123456:WRONG-token")
        out = run_cli("--config", str(cfg), "notify", "test", "ops")
        assert out.returncode == 1 and "HTTP 401" in out.stderr
        assert "WRONG-token" not in out.stderr + out.stdout  # the token sits in the URL
    finally:
        stop.set()
        th.join(30)


def test_report_budget_cli_writes_the_mail_with_csv(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "c.db"}"\n'
                   '[notify.report]\nlang = "en"\n')
    out = run_cli("--config", str(cfg), "report", "budget", "--week", "2026-W49", "--to",
                  str(tmp_path / "w49.eml"))
    assert out.returncode == 0, out.stderr
    assert "week 2026-W49 (2026-11-30 to 2026-12-06, WIB)" in out.stdout
    mail = email.message_from_bytes((tmp_path / "w49.eml").read_bytes())
    assert mail["Subject"] == "kotanet weekly budget report 2026-W49"
    att = next(p for p in mail.walk() if p.get_filename() == "kotanet-budget-2026-W49.csv")
    header = next(csv.reader(io.StringIO(att.get_payload(decode=True).decode())))
    assert header[:3] == ["Site", "Unused (Mbit/s)", "Use (%)"]  # the budget page's CSV
    out = run_cli("--config", str(cfg), "report", "budget", "--week", "49", "--to",
                  str(tmp_path / "x.csv"))
    assert out.returncode == 2 and "week must look like 2026-W49" in out.stderr


def test_settings_api_shows_channels_and_routes_to_admin_never_secrets(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from central.api.auth import TokenAuth
    from central.assemble import build_app
    from central.collector.stats import Stats
    from central.storage import open_storage

    toml = tmp_path / "central.toml"
    (tmp_path / "hook.key").write_text("SECRET-HMAC-KEY")
    toml.write_text("""
[notify]
base_url = "https://noc.example.test"
[[notify.channels]]
id = "hook"
type = "webhook"
url = "https://hooks.example.test/k"
secret_file = "hook.key"
[[notify.channels]]
id = "mail"
type = "email"
host = "smtp.example.test"
username = "kotanet"
password_env = "KOTANET_SMTP_PASSWORD"
from_addr = "k@example.test"
[[notify.routes]]
id = "siem"
channel = "hook"
lang = "en"
[[notify.routes]]
id = "kantor"
channel = "mail"
to = ["noc@example.test"]
site_kinds = ["office"]
""")
    db = tmp_path / "central.db"
    cfg = load_config(toml, env={"KOTANET_DB": f"sqlite:///{db}", "KOTANET_HTTP": "127.0.0.1:1",
                                 "KOTANET_ADMIN_TOKEN": "admin-token-0123456789",
                                 "KOTANET_SMTP_PASSWORD": "SECRET-SMTP-PW"})
    storage = open_storage(cfg.storage.url)
    viewer = TokenAuth(storage, None).create("screen", "viewer")
    app = build_app(cfg, storage, Stats(), with_policy=False)

    async def main() -> None:
        async with TestClient(TestServer(app)) as client:
            r = await client.get("/api/v1/notify", headers={"Authorization": f"Bearer {viewer}"})
            assert r.status == 403
            r = await client.get("/api/v1/notify",
                                 headers={"Authorization": "Bearer admin-token-0123456789"})
            assert r.status == 200
            text = await r.text()
            body = await r.json()
            assert "SECRET" not in text
            assert [(c["id"], c["secret_from"], c["secret_loaded"]) for c in body["channels"]] == [
                ("hook", f"file {tmp_path / 'hook.key'}", True),
                ("mail", "environment KOTANET_SMTP_PASSWORD", True)]
            assert [r["id"] for r in body["routes"]] == ["siem", "kantor"]
            assert body["routes"][1]["site_kinds"] == ["office"] and body["outbox"] == {}
            r = await client.get("/metrics")
            assert 'kotanet_notify_outbox{status="pending"} 0' in await r.text()
    try:
        asyncio.run(main())
    finally:
        storage.close()
