"""kotanet-sim: run N simulated Sampit nodes, each a real Agent with its own MQTT connection."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from agent.config import AgentConfig, ConfigError, parse_config
from agent.sim import audit
from agent.sim.faketc import FakeTc
from agent.sim.fleet import (
    SimNode,
    build_fleet,
    generate_credentials,
    load_credentials,
    load_sites,
    registry,
    select,
    write_private,
)
from agent.sim.model import NodeModel, sim_probes
from protocol.signing import key_id_of, unb64url

if TYPE_CHECKING:
    from agent.runtime import Agent

log = logging.getLogger(__name__)

EPILOG = """\
examples:
  # 20 nodes (one per Sampit site) against a broker where every node has a password
  kotanet-sim --nodes 20 --mqtt-url mqtt://127.0.0.1:1883 --credentials run/demo/nodes.json

  # generate passwords and central's node registry for 50 nodes, then exit
  kotanet-sim --nodes 50 --write-credentials nodes.json --write-registry registry.json

  # one park node only, fast samples, short keepalive (what the e2e tests do)
  kotanet-sim --nodes 20 --only taman-kota-sampit-01 --interval 0.5 --keepalive 2 ...

  kotanet-sim --nodes 50 --list      # show node ids, sites, roles, coordinates

Node ids are <site>-<k> (e.g. ikon-jelawat-01); N beyond the 20 sites adds nodes per site.
Each node is its MQTT username; its durable state (session counter, outbox) lives in
STATE_DIR/<node>. The URL may also come from KOTANET_MQTT_URL. Ctrl-C or SIGTERM stops
every node cleanly (state online=false, then DISCONNECT).
"""


def build_parser() -> argparse.ArgumentParser:
    """The command line of kotanet-sim."""
    p = argparse.ArgumentParser(
        prog="kotanet-sim", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG,
        description="Run a simulated Sampit fleet: real kotanet agents fed by simulated probes "
                    "(diurnal park/office users, fibre + LTE uplinks with trouble, Pi health).")
    p.add_argument("--nodes", type=int, default=20, metavar="N", help="fleet size (default 20)")
    p.add_argument("--mqtt-url", default=os.environ.get("KOTANET_MQTT_URL", "mqtt://127.0.0.1:1883"),
                   help="broker URL mqtt://[user:pass@]host:port (env KOTANET_MQTT_URL)")
    p.add_argument("--credentials", metavar="FILE",
                   help="JSON or TOML {node: password}; each node logs in as itself")
    p.add_argument("--state-dir", default="run/sim", metavar="DIR",
                   help="per-node state (session counter, outbox) under DIR/<node> (default run/sim)")
    p.add_argument("--interval", type=float, default=10.0, metavar="S",
                   help="sample interval in seconds (default 10)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the simulation (default 0)")
    p.add_argument("--keepalive", type=int, default=30, metavar="S", help="MQTT keepalive (default 30)")
    p.add_argument("--command-pub", metavar="FILE",
                   help="central's command public key (pki/command.pub); without it the nodes "
                        "reject every command unless --set commands.require_signed=false")
    p.add_argument("--only", metavar="NODE[,NODE]", help="run only these nodes of the fleet")
    p.add_argument("--outbox-max-records", type=int, metavar="N", help="outbox cap (default: agent's)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override any agent.toml key for every node, e.g. --set "
                        "mqtt.reconnect_max_s=2 --set outbox.flush_every=1 (repeatable)")
    p.add_argument("--time-warp", type=float, default=1.0, metavar="X",
                   help="run the simulated day X times faster (users follow simulated time)")
    p.add_argument("--duration", type=float, default=0.0, metavar="S",
                   help="stop after S seconds (default 0: until Ctrl-C)")
    p.add_argument("--fleet", metavar="FILE", help="site list (default: packaged sampit.json)")
    p.add_argument("--list", action="store_true", help="print the fleet and exit")
    p.add_argument("--write-credentials", metavar="FILE", help="write fresh passwords (JSON) and exit")
    p.add_argument("--write-registry", metavar="FILE", help="write central's node registry (JSON) and exit")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING (default INFO)")
    return p


def _strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def node_config(node: SimNode, args: argparse.Namespace, password: str | None) -> AgentConfig:
    """The agent config of one simulated node."""
    mqtt: dict[str, Any] = {"url": args.mqtt_url, "keepalive_s": args.keepalive}
    if password is not None:
        mqtt.update(url=_strip_credentials(args.mqtt_url), username=node.node, password=password)
    data: dict[str, Any] = {
        "node": {"id": node.node, "site": node.site.site, "role": node.role},
        "mqtt": mqtt,
        "agent": {"state_dir": str(Path(args.state_dir) / node.node),
                  "sample_interval_s": args.interval, "probe_timeout_s": 1.0},
        "uplinks": [
            {"name": "fibre", "iface": "eth0", "kind": "ethernet", "priority": 0,
             "targets": ["127.0.0.1"]},
            {"name": "lte", "iface": "wwan0", "kind": "lte", "priority": 1,
             "targets": ["127.0.0.1"]},
        ],
    }
    if args.command_pub:
        pub = Path(args.command_pub).read_text().strip()
        data["commands"] = {"require_signed": True, "keys": {key_id_of(unb64url(pub)): pub}}
    if args.outbox_max_records is not None:
        data["outbox"] = {"max_records": args.outbox_max_records}
    for item in args.set:
        apply_override(data, item)
    return parse_config(data, f"sim:{node.node}")


def apply_override(data: dict[str, Any], item: str) -> None:
    """Apply one SECTION.KEY=VALUE (VALUE as JSON if it parses, else a string); ConfigError."""
    key, sep, raw = item.partition("=")
    section, dot, name = key.partition(".")
    if not sep or not dot or not section or not name:
        raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    target = data.setdefault(section, {})
    if not isinstance(target, dict):
        raise ConfigError(f"--set {item!r}: {section} is not a table")
    target[name] = value


def _write_files(args: argparse.Namespace, nodes: list[SimNode]) -> None:
    if args.write_credentials:
        creds = generate_credentials(nodes)
        write_private(args.write_credentials, json.dumps(creds, indent=1) + "\n")
        print(f"wrote {len(creds)} node passwords to {args.write_credentials}")
    if args.write_registry:
        Path(args.write_registry).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write_registry).write_text(json.dumps(registry(nodes), indent=1) + "\n")
        print(f"wrote registry of {len(nodes)} nodes to {args.write_registry}")


def run(args: argparse.Namespace, nodes: list[SimNode], stop: threading.Event) -> int:
    """Start one Agent per node, wait for stop (or the duration), stop them all."""
    from agent.controllers.shaping import ShapingController  # imported here so --help stays fast
    from agent.runtime import Agent  # the real agent

    creds = load_credentials(args.credentials) if args.credentials else {}
    missing = [n.node for n in nodes if creds and n.node not in creds]
    if missing:
        print(f"kotanet-sim: no password for {', '.join(missing[:5])} in {args.credentials}",
              file=sys.stderr)
        return 2
    audit.enable_if_requested([Path(args.state_dir) / n.node for n in nodes])
    agents: list[Agent] = []
    for n in nodes:
        cfg = node_config(n, args, creds.get(n.node))
        model = NodeModel(n, seed=args.seed, interval_s=args.interval, time_warp=args.time_warp)
        agent = Agent(cfg, sim_probes(model), simulated=True)
        kernel = FakeTc()  # the real controller shapes a fake kernel that caps the traffic
        agent.shaping = ShapingController(cfg.shaping, kernel)
        model.limits = kernel.limits_bps
        agents.append(agent)
    if threading.current_thread() is threading.main_thread():  # bench/freshness.py asks
        signal.signal(signal.SIGUSR1, lambda *_: print(json.dumps({"sim_stats": {
            a.cfg.node.id: {"commits": a.outbox.commits if a.outbox else 0} for a in agents}}),
            flush=True))
    try:
        for a in agents:
            a.start()
        log.info("running %d simulated nodes against %s (interval %.3gs)", len(agents),
                 _strip_credentials(args.mqtt_url), args.interval)
        print(f"kotanet-sim: {len(agents)} nodes running", flush=True)
        stop.wait(args.duration if args.duration > 0 else None)
    finally:
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(_stop_one, agents))
        log.info("stopped %d simulated nodes", len(agents))
    return 0


def _stop_one(agent: Agent) -> None:
    try:
        agent.stop()
    except Exception:
        log.exception("stopping an agent failed")


def main(argv: list[str] | None = None) -> int:
    """Entry point of kotanet-sim."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        nodes = select(build_fleet(args.nodes, load_sites(args.fleet)),
                       args.only.split(",") if args.only else None)
    except (ValueError, OSError) as exc:
        print(f"kotanet-sim: {exc}", file=sys.stderr)
        return 2
    if args.list:
        for n in nodes:
            s = n.site
            print(f"{n.node:34} {s.kind:6} {s.lat:8.4f} {s.lon:9.4f} {s.capacity_mbps:4d} Mbit/s  {s.name}")
        return 0
    if args.write_credentials or args.write_registry:
        _write_files(args, nodes)
        return 0
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        for n in nodes:  # fail fast on a bad --set before anything starts
            node_config(n, args, None)
        return run(args, nodes, stop)
    except ConfigError as exc:
        print(f"kotanet-sim: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
