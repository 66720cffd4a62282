"""kotanet-central: run one collector and the JSON API/metrics in one process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from aiohttp import web

from central.api.auth import ROLES, TokenAuth
from central.assemble import build_app
from central.collector.service import Collector
from central.collector.stats import Stats
from central.config import ConfigError, load_config
from central.storage import StorageError, open_storage
from central.storage.location import state_path

log = logging.getLogger("central")

DESCRIPTION = """\
Run a kotanet central instance: an MQTT collector that stores node telemetry in the database
(and sends delivery receipts after each commit) plus the JSON API and Prometheus /metrics.

Several instances may run at once: they share the node traffic through the MQTT 5 shared
subscription $share/collectors/... and store into one database idempotently.
"""

EPILOG = """\
configuration (TOML, unknown keys are errors):
  instance = "central-1"            # default: <hostname>-<pid>
  topic_prefix = "kotanet/v1"
  strict_registry = false           # true: reject nodes not listed below
  gap_grace_s = 300                 # seqs missing this long count as gaps
  registry_file = "nodes.toml"      # optional, TOML [[nodes]] or JSON list
  [mqtt]    url = "mqtt://central:PASSWORD@127.0.0.1:1883"
  [mqtt]    ca_file = "/etc/kotanet/ca.crt"  # for mqtts:// (default: system CAs)
  [storage] url = "sqlite:///var/lib/kotanet/central.db"  # or postgresql://...
  [storage] state_url = "sqlite:///var/lib/kotanet/state.db"  # needed with PostgreSQL
  [http]    listen = "127.0.0.1:8080"
  [http]    trusted_proxies = ["127.0.0.1/32"]  # believe their X-Forwarded-For/-Proto
  [[nodes]] node = "tk-sampit-01"  site = "taman-kota"  role = "park"

environment (overrides the file):
  KOTANET_MQTT_URL     mqtt://user:pass@host:port or mqtts://user:pass@host:8883
  KOTANET_MQTT_CA      CA file for mqtts:// (default: the system CAs)
  KOTANET_DB           sqlite:///path/to/central.db or postgresql://...
  KOTANET_STATE_DB     sqlite:///path for commands, leader lease, alerts and NOC
                       (required with PostgreSQL storage; one central machine only)
  KOTANET_HTTP         host:port of the API
  KOTANET_ADMIN_TOKEN  bootstrap admin Bearer token
  KOTANET_TRUSTED_PROXIES  comma-separated CIDRs of reverse proxies whose
                       X-Forwarded-For/-Proto give the client (default: none)

subcommands:
  kotanet-central --config central.toml notify test ROUTE     send a test message now
  kotanet-central --config central.toml report budget --week 2026-W49 --to week.eml

examples:
  kotanet-central --config /etc/kotanet/central.toml --check
  kotanet-central --config /etc/kotanet/central.toml
  kotanet-central --config central.toml --add-token noc-screen --role viewer
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/nodes
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kotanet-central", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", help="central TOML config (default: built-in "
                   "defaults plus environment)")
    p.add_argument("--check", action="store_true", help="validate the config and exit")
    p.add_argument("--add-token", metavar="NAME", help="create an API token, print it, exit")
    p.add_argument("--role", choices=ROLES, default="viewer", help="role for --add-token")
    p.add_argument("--log-level", default="INFO",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log verbosity")
    return p


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve the app until SIGINT or SIGTERM, then shut down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info("API listening on http://%s:%d", host, port)
        await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Entry point of kotanet-central."""
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("notify", "report") for a in argv[:3]):
        from central.notify.cli import main as notify_main  # kotanet-central notify/report
        logging.basicConfig(level="WARNING")
        return notify_main(argv)
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config)
        if not args.add_token:
            state_path(cfg)  # PostgreSQL storage: the state tables need an SQLite file
        if args.check:
            print(f"config OK: instance {cfg.instance_id()}, {len(cfg.nodes)} registered nodes")
            return 0
        storage = open_storage(cfg.storage.url)
    except (ConfigError, StorageError) as exc:
        print(f"kotanet-central: error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.add_token:
            print(TokenAuth(storage, None).create(args.add_token, args.role))
            return 0
        if not cfg.http.admin_token:
            log.warning("no admin token (KOTANET_ADMIN_TOKEN): only tokens from --add-token work")
        stats = Stats()
        app = build_app(cfg, storage, stats, Collector(cfg, storage, stats))
        host, port = cfg.http_hostport()
        asyncio.run(serve(app, host, port))
        return 0
    except (OSError, StorageError) as exc:
        print(f"kotanet-central: error: {exc}", file=sys.stderr)
        return 1
    finally:
        storage.close()


if __name__ == "__main__":
    sys.exit(main())
