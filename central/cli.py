"""kotanet-central: run one collector and the JSON API/metrics in one process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from aiohttp import web

from central.alerts.incident_store import IncidentStore, IncidentStoreError
from central.alerts.store import AlertStore, AlertStoreError
from central.api.auth import ROLES, TokenAuth
from central.assemble import build_app
from central.clock import wall_ms
from central.collector.service import Collector
from central.collector.stats import Stats
from central.commands.store import LEASE_NAME, CommandStore, CommandStoreError
from central.config import CentralConfig, ConfigError, load_config
from central.noc.presence_log import PresenceLog
from central.noc.store import NocStore
from central.notify.outbox import OutboxError, OutboxStore
from central.storage import StorageError, open_storage
from central.storage.base import Storage
from central.storage.location import state_path
from central.storage.statedb import DB_ERRORS, applied, open_state

log = logging.getLogger("central")

DESCRIPTION = """\
Run a kotanet central instance: an MQTT collector that stores node telemetry in the database
(and sends delivery receipts after each commit) plus the JSON API and Prometheus /metrics.

Several instances may run at once: they share the node traffic through the MQTT 5 shared
subscription $share/<group>/... (the group name is secret: docs/protocol.md 2.2) and store
into one database idempotently.
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
  [storage] state_url = "sqlite:///var/lib/kotanet/state.db"  # default: url
  [http]    listen = "127.0.0.1:8080"
  [http]    trusted_proxies = ["127.0.0.1/32"]  # believe their X-Forwarded-For/-Proto
  [[nodes]] node = "tk-sampit-01"  site = "taman-kota"  role = "park"

environment (overrides the file):
  KOTANET_MQTT_URL     mqtt://user:pass@host:port or mqtts://user:pass@host:8883
  KOTANET_MQTT_CA      CA file for mqtts:// (default: the system CAs)
  KOTANET_DB           sqlite:///path/to/central.db or postgresql://...
  KOTANET_STATE_DB     sqlite:///path or postgresql://... for commands, leader lease,
                       alerts, incidents, outbox and NOC (default: KOTANET_DB; several
                       central machines need PostgreSQL for both)
  KOTANET_HTTP         host:port of the API
  KOTANET_ADMIN_TOKEN  bootstrap admin Bearer token
  KOTANET_TRUSTED_PROXIES  comma-separated CIDRs of reverse proxies whose
                       X-Forwarded-For/-Proto give the client (default: none)

subcommands:
  kotanet-central --config central.toml migrate    apply the schema migrations, print them
  kotanet-central --config central.toml status     instance, leader and lease expiry, command
                                                   epoch, outbox depth, ingest lag
  kotanet-central --config central.toml notify test ROUTE     send a test message now
  kotanet-central --config central.toml report budget --week 2026-W49 --to week.eml

examples:
  kotanet-central --config /etc/kotanet/central.toml --check
  kotanet-central --config /etc/kotanet/central.toml
  kotanet-central --config central.toml --add-token noc-screen --role viewer
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8080/api/v1/nodes
"""


STATE_ERRORS: tuple[type[Exception], ...] = (
    CommandStoreError, AlertStoreError, IncidentStoreError, OutboxError, *DB_ERRORS)


def _state_stores(target: str) -> list[Any]:
    """Open every state store once (each applies its migrations), closed by the caller."""
    opened: list[Any] = []
    try:
        for store in (CommandStore, AlertStore, IncidentStore, OutboxStore, NocStore,
                      PresenceLog):
            opened.append(store(target))
    except BaseException:
        for s in opened:
            s.close()
        raise
    return opened


def migrate_state(target: str) -> list[str]:
    """Apply every state migration not applied yet; one line per migration applied now."""
    db = open_state(target, "schema_migrations", ())
    try:
        before = {(r["feature"], r["version"]) for r in applied(db)}
        for s in _state_stores(target):
            s.close()
        now = [r for r in applied(db) if (r["feature"], r["version"]) not in before]
    finally:
        db.close()
    where = target.rsplit("@", 1)[-1]  # a URL's password stays out of the output
    return [f"applied {r['feature']} migration {r['version']}" for r in now] + [
        f"state database {where}: {len(before) + len(now)} migrations applied in all"]


def state_status(cfg: CentralConfig, storage: Storage) -> dict[str, Any]:
    """This instance, the leader and its lease expiry, the command epoch, the outbox depth and
    the ingest lag (now minus the newest stored sample's time)."""
    stores = _state_stores(state_path(cfg))
    try:
        cmds, outbox = stores[0], stores[3]
        lease, epoch = cmds.lease_info(LEASE_NAME), cmds.current_epoch()
        counts = outbox.counts()
    finally:
        for s in stores:
            s.close()
    now = wall_ms()
    newest = max((n["last_sample_ms"] or 0 for n in storage.list_nodes()), default=0)
    leader = "none"
    if lease is not None and lease["holder"]:
        left = (lease["expires_ms"] - now) / 1000
        leader = (f"{lease['holder']} (epoch {lease['epoch']}, lease "
                  + (f"expires in {left:.1f} s)" if left > 0 else f"expired {-left:.1f} s ago)"))
    return {"instance": cfg.instance_id(), "leader": leader,
            "command_epoch": epoch,
            "outbox_depth": counts.get("pending", 0) + counts.get("sending", 0),
            "ingest_lag_s": f"{(now - newest) / 1000:.1f}" if newest else "no samples"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kotanet-central", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", help="central TOML config (default: built-in "
                   "defaults plus environment)")
    p.add_argument("--check", action="store_true", help="validate the config and exit")
    p.add_argument("--add-token", metavar="NAME", help="create an API token, print it, exit")
    p.add_argument("--role", choices=ROLES, default="viewer", help="role for --add-token")
    p.add_argument("action", nargs="?", choices=("run", "migrate", "status"), default="run",
                   help="run (default); migrate: apply the database migrations and print what "
                   "was applied; status: this instance, the leader, epoch, outbox, ingest lag")
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
            state_path(cfg)  # a wrong state URL scheme fails before anything starts
        if args.check:
            print(f"config OK: instance {cfg.instance_id()}, {len(cfg.nodes)} registered nodes")
            return 0
        storage = open_storage(cfg.storage.url)
    except (ConfigError, StorageError) as exc:
        print(f"kotanet-central: error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "migrate":
            storage.close()
            for line in migrate_state(state_path(cfg)):
                print(line)
            return 0
        if args.action == "status":
            try:
                for key, value in state_status(cfg, storage).items():
                    print(f"{key}: {value}")
            finally:
                storage.close()
            return 0
    except STATE_ERRORS as exc:
        print(f"kotanet-central: error: {exc}", file=sys.stderr)
        return 1
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
