"""``kotanet-central notify test ROUTE`` and ``kotanet-central report budget --week W --to F``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from email.message import EmailMessage
from pathlib import Path

from central.clock import wall_ms
from central.config import ConfigError, load_config
from central.noc.store import NocStore
from central.notify.catalogue import text
from central.notify.channels import Channel, DeliveryError
from central.notify.report import build_report, week_of
from central.notify.sender import report_route
from central.storage import StorageError, open_storage
from central.storage.location import state_path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kotanet-central", description="Notification tools.")
    p.add_argument("--config", metavar="FILE", help="central TOML config")
    sub = p.add_subparsers(dest="group", required=True)
    notify = sub.add_parser("notify", help="notification channels")
    nsub = notify.add_subparsers(dest="action", required=True)
    test = nsub.add_parser("test", help="send a test message over one route now")
    test.add_argument("route", help="a [[notify.routes]] id")
    test.add_argument("--config", metavar="FILE", dest="config2", help="central TOML config")
    report = sub.add_parser("report", help="reports")
    rsub = report.add_subparsers(dest="action", required=True)
    budget = rsub.add_parser("budget", help="the weekly budget report of one ISO week")
    budget.add_argument("--week", help="ISO week like 2026-W49 (default: last week)")
    budget.add_argument("--to", metavar="FILE", required=True,
                        help="write the report here: FILE.eml = the whole e-mail (text and "
                        "CSV attachment), any other name = the CSV attachment")
    budget.add_argument("--lang", choices=["en", "id"], help="default: [notify.report] lang")
    budget.add_argument("--config", metavar="FILE", dest="config2", help="central TOML config")
    return p


def main(argv: list[str]) -> int:
    """Run a notify/report subcommand; 0 ok, 1 delivery failed, 2 bad config or input."""
    args = _parser().parse_args(argv)
    try:
        cfg = load_config(getattr(args, "config2", None) or args.config)
    except ConfigError as exc:
        print(f"kotanet-central: error: {exc}", file=sys.stderr)
        return 2
    if args.group == "notify":
        route = next((r for r in cfg.notify.routes if r.id == args.route), None)
        if route is None:
            known = ", ".join(r.id for r in cfg.notify.routes) or "none configured"
            print(f"kotanet-central: error: unknown route {args.route!r} ({known})",
                  file=sys.stderr)
            return 2
        channel = next(c for c in cfg.notify.channels if c.id == route.channel)
        key = f"kotanet-test-{route.id}-{wall_ms()}"
        msg = {"version": 1, "idempotency_key": key, "event": "test", "route": route.id,
               "lang": route.lang, "subject": text(route.lang, "state_test"),
               "text": text(route.lang, "state_test") + "\n" + text(route.lang, "test_body",
                                                                      route=route.id),
               "link": cfg.notify.base_url, "incident": None}
        try:
            asyncio.run(Channel(channel).send(msg, route))
        except DeliveryError as exc:
            print(f"kotanet-central: test message over route {route.id} failed: {exc}",
                  file=sys.stderr)
            return 1
        print(f"test message sent over route {route.id} ({channel.type} channel {channel.id})")
        return 0
    try:
        week = args.week or week_of(wall_ms() - 7 * 86_400_000, cfg.notify.timezone)
        path = state_path(cfg)
        storage = open_storage(cfg.storage.url)
    except (ConfigError, StorageError, ValueError) as exc:
        print(f"kotanet-central: error: {exc}", file=sys.stderr)
        return 2
    try:
        noc = NocStore(path)
        try:
            sites = noc.sites()
        finally:
            noc.close()
        body = build_report(storage, sites, week, cfg.notify, args.lang)
    except ValueError as exc:
        print(f"kotanet-central: error: {exc}", file=sys.stderr)
        return 2
    finally:
        storage.close()
    out = Path(args.to)
    att = body["attachments"][0]
    if out.suffix == ".eml":
        mail = EmailMessage()
        route = report_route(cfg.notify)
        mail["Subject"] = body["subject"]
        mail["To"] = ", ".join(route.to if route else [])
        mail.set_content(body["text"])
        mail.add_attachment(att["text"].encode(), maintype="text", subtype="csv",
                            filename=att["filename"])
        out.write_bytes(bytes(mail))
    else:
        out.write_text(att["text"], encoding="utf-8")
    print(body["text"])
    return 0
