"""The running part of `make demo` (inside the venv): start the stack, print how to use it, wait."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from agent.sim.fleet import write_private
from agent.sim.stack import Stack, wait_until
from provisioning.localbroker import BrokerError

log = logging.getLogger(__name__)


def _free_or_other(hostport: str) -> str:
    host, _, port = hostport.rpartition(":")
    with socket.socket() as s:
        try:
            s.bind((host, int(port)))
            return hostport
        except OSError:
            s.bind((host, 0))
            return f"{host}:{s.getsockname()[1]}"


SAMPIT = Path(__file__).resolve().parent.parent / "agent" / "sim" / "sampit.json"


def write_fleet_file(path: Path) -> Path:
    """Central's fleet file for the demo: Sampit's sites, two paid upstreams, policy inputs."""
    sites, caps = [], {"park": 0, "office": 0}
    for s in json.loads(SAMPIT.read_text())["sites"]:
        cap = int(s["capacity_mbps"] * 1000)
        caps[s["kind"]] += cap
        sites.append({"id": s["site"], "name": s["name"], "kind": s["kind"], "lat": s["lat"],
                      "lon": s["lon"], "down_kbps": cap, "up_kbps": max(1000, cap // 4),
                      "upstream": "telkom-parks" if s["kind"] == "park" else "iconplus-pemda"})
    # the regency buys less than the sum of the sites' contracts: the policy shares it
    ups = [{"id": "telkom-parks", "name": "Telkom Astinet (parks)",
            "down_kbps": int(caps["park"] * 0.6), "up_kbps": int(caps["park"] * 0.15)},
           {"id": "iconplus-pemda", "name": "Icon+ Pemda Kotim (SOPD offices)",
            "down_kbps": int(caps["office"] * 0.6), "up_kbps": int(caps["office"] * 0.15)}]
    path.write_text(json.dumps({"upstreams": ups, "sites": sites}, indent=1) + "\n")
    return path


def banner(stack: Stack, http: str, n: int) -> str:
    """What the operator sees once the demo is up."""
    return f"""
  kotanet demo is running: {n} simulated Sampit nodes -> mosquitto 127.0.0.1:{stack.broker.port}
  -> central (SQLite {stack.db_path})

  API          http://{http}/api/v1/nodes
  admin token  {stack.admin_token}    (also in {stack.dir / 'admin-token'})

  NOC          http://{http}/noc/   (first visit: /noc/setup with the admin token)

  TOKEN=$(cat {stack.dir / 'admin-token'})
  curl -s -H "Authorization: Bearer $TOKEN" http://{http}/api/v1/nodes
  curl -s -X POST -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
       -d '{{"kind": "set_throttle", "params": {{"down_kbps": 4000, "lease_s": 600}}}}' \\
       http://{http}/api/v1/nodes/{stack.fleet[0].node}/commands

  logs: {stack.dir / 'logs'}/   broker: {stack.broker.dir}/
  Ctrl-C stops everything.
"""


def run_demo(args: argparse.Namespace) -> int:
    """Start broker, central and the fleet; wait for Ctrl-C/SIGTERM/--duration; stop all."""
    logging.basicConfig(level=logging.INFO, format="demo: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stack = Stack(Path(args.dir), args.nodes, interval_s=args.interval,
                  keepalive_s=args.keepalive)
    try:
        stack.start_broker()
        http = _free_or_other(args.http)
        write_private(stack.dir / "admin-token", stack.admin_token + "\n")
        fleet_file = write_fleet_file(stack.dir / "fleet.json")
        os.environ["KOTANET_NOC_SITES_FILE"] = str(SAMPIT)  # map markers and capacities
        central = stack.start_central("central-demo", http,
                                      top_toml=f'fleet_file = "{fleet_file}"\n')
        fleet = stack.start_sim("sim", extra=["--time-warp", str(args.time_warp)])
        try:
            wait_until(lambda: len(stack.online()) >= args.nodes, 60, f"{args.nodes} nodes online",
                       step_s=0.5)
        except TimeoutError as exc:
            log.warning("%s; see %s", exc, fleet.log_path)
        print(banner(stack, http, args.nodes), flush=True)
        deadline = time.monotonic() + args.duration if args.duration > 0 else None
        while not stop.wait(1.0):
            if deadline is not None and time.monotonic() >= deadline:
                break
            for proc in (central, fleet):
                if not proc.alive():
                    log.error("%s exited unexpectedly; last log lines:\n%s", proc.name, proc.tail())
                    return 1
        return 0
    except (BrokerError, RuntimeError, OSError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    finally:
        print("demo: stopping fleet, central and broker ...", flush=True)
        stack.close()
        print("demo: stopped", flush=True)
