"""`kotanet-agent status | selftest | statuspage`: the technician's commands on the node.

``main`` is called by agent/cli.py before anything heavy is imported, so `status` and the
status page never load pydantic or paho (quick on a Pi Zero, small RSS); only `selftest`
loads the agent's configuration model and MQTT client.
"""

from __future__ import annotations

import argparse
import logging
import sys

from agent.fieldtools.i18n import pick_lang
from agent.fieldtools.nodeconf import DEFAULT_CONFIG, lan_iface, raw_config, status_path
from agent.fieldtools.nodeconf import uplink_ifaces as uplinks_of

log = logging.getLogger(__name__)

COMMANDS = ("status", "selftest", "statuspage")
FMT = argparse.RawDescriptionHelpFormatter
LANG_HELP = "id (Bahasa Indonesia) or en; default: from LC_ALL/LC_MESSAGES/LANG (id_* -> id)"

STATUS_EPILOG = """\
examples:
  kotanet-agent status
      uplinks (state, RTT, loss, which is active), users by source, throttle and lease,
      broker session and last receipt, outbox, clock, last command and its ack, LEDs
  LANG=id_ID.UTF-8 kotanet-agent status      the same in Bahasa Indonesia (or --lang id)
  kotanet-agent status --json | jq .uplinks   the snapshot itself, for scripts

It reads what the running agent publishes after every sample ([agent] status_file,
default /run/kotanet/status.json): no broker, no root needed.
exit status: 0 shown; 1 the snapshot is stale (agent hangs); 3 no snapshot (agent not
running, or status_file = "").
"""

SELFTEST_EPILOG = """\
examples:
  sudo kotanet-agent selftest
      interfaces and addresses, default route, DNS, each uplink through that uplink, broker
      TCP + TLS + login, clock, SD card space and write health, hostapd/dnsmasq/openNDS,
      GPIO: one line per check, ✓ passed, ✗ failed (with a hint), – not applicable
  sudo kotanet-agent selftest --lang id    in Bahasa Indonesia (as under LANG=id_ID.UTF-8)
  sudo kotanet-agent selftest --json       the results for scripts

Run it as root: probes need raw sockets and the MQTT password file is root's.
exit status: the number of failed checks (0 = all good); 1 also if agent.toml is unusable.
"""

STATUSPAGE_EPILOG = """\
examples:
  kotanet-agent statuspage
      serve http://<LAN address>/ on port 80 of the LAN interface from agent.toml
      ([shaping] lan_iface, else [users] lan_iface, else br0); phones on the node's Wi-Fi
      open http://status.kotanet/ (dnsmasq answers that name with the LAN address)
  kotanet-agent statuspage --listen 192.168.50.1:8080
      an explicit address and port (must be a LAN address, never 0.0.0.0)

Read-only: the agent's snapshot as a page (Bahasa Indonesia, ?lang=en for English) and as
/status.json. Bound to the LAN interface itself, never reachable from the uplinks.
Runs as its own small process (kotanet-statuspage.service), apart from the agent.
exit status: 0 stopped, 2 refused address (wildcard or uplink), 1 no LAN address in time.
"""


def _parser(cmd: str, epilog: str, description: str) -> argparse.ArgumentParser:
    """One command's parser with the options every command shares."""
    p = argparse.ArgumentParser(prog=f"kotanet-agent {cmd}", epilog=epilog,
                                formatter_class=FMT, description=description)
    p.add_argument("--config", "-c", default=DEFAULT_CONFIG, metavar="FILE",
                   help=f"the node's agent.toml (default {DEFAULT_CONFIG})")
    p.add_argument("--lang", choices=["id", "en"], help=LANG_HELP)
    p.add_argument("--log-level", default="warning",
                   choices=["debug", "info", "warning", "error"], help="default: warning")
    return p


def build_parsers() -> dict[str, argparse.ArgumentParser]:
    """The parser of each command."""
    st = _parser("status", STATUS_EPILOG,
                 "Show what the running agent reports about this node, without the broker.")
    se = _parser("selftest", SELFTEST_EPILOG, "Check everything this node needs, one line per "
                 "check with a fix hint when it fails.")
    sp = _parser("statuspage", STATUSPAGE_EPILOG, "Serve the read-only status page on the LAN "
                 "side for phones on the node's Wi-Fi.")
    for parser, verb in ((st, "read"), (sp, "serve")):
        parser.add_argument("--status-file", metavar="PATH",
                            help=f"snapshot to {verb} (default: [agent] status_file of --config)")
    for parser, what in ((st, "the snapshot"), (se, "the results")):
        parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")
    sp.add_argument("--listen", metavar="ADDR:PORT", help="LAN address and port to serve on")
    sp.add_argument("--iface", metavar="IFACE", help="LAN interface (default from --config)")
    sp.add_argument("--port", type=int, default=80, help="port with --iface (default 80)")
    sp.add_argument("--refresh", type=int, default=10, metavar="S",
                    help="the page reloads itself every S seconds (default 10)")
    sp.add_argument("--wait", type=float, default=60.0, metavar="S",
                    help="wait up to S seconds for the LAN address at boot (default 60)")
    return {"status": st, "selftest": se, "statuspage": sp}


def main(argv: list[str]) -> int:
    """Run one command (argv[0] in COMMANDS); returns the exit status."""
    cmd, rest = argv[0], argv[1:]
    args = build_parsers()[cmd].parse_args(rest)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lang = pick_lang(args.lang)
    if cmd == "selftest":
        from agent.fieldtools.selftest import run_selftest

        return run_selftest(args.config, lang, args.json)
    raw = raw_config(args.config)
    path = args.status_file if args.status_file is not None else status_path(raw)
    if cmd == "status":
        from agent.fieldtools.status import run_status

        return run_status(path, lang, args.json)
    if "ssl" not in sys.modules:  # plain HTTP on the LAN only: keep libssl out (~5 MB RSS)
        sys.modules["ssl"] = None  # type: ignore[assignment]  # http.client then skips HTTPS
    from agent.fieldtools.statuspage import ListenError, resolve_listen, serve

    try:
        addr, port, dev = resolve_listen(args.listen, args.iface or lan_iface(raw), args.port,
                                         uplinks_of(raw), args.wait)
    except ListenError as exc:
        print(f"kotanet-agent statuspage: {exc}", file=sys.stderr)
        return exc.status
    try:
        serve(addr, port, dev, path, max(2, args.refresh))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"kotanet-agent statuspage: cannot listen on {addr}:{port}: {exc}",
              file=sys.stderr)
        return 1
    return 0
