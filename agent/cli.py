"""kotanet-agent: run the node agent (or check its configuration)."""

from __future__ import annotations

import argparse
import logging
import sys

from agent import __version__
from agent.config import AgentConfig, ConfigError, load_config

log = logging.getLogger("agent.cli")

EPILOG = """\
examples:
  kotanet-agent --config /etc/kotanet/agent.toml --check
      validate the file (unknown or misspelt keys are errors) and exit 0, or print one line
      naming the bad key and exit 2
  kotanet-agent --config /etc/kotanet/agent.toml
      run until SIGTERM/SIGINT; under systemd (Type=notify) it sends READY=1 once started
      and WATCHDOG=1 after every sample stored in the outbox

files in [agent] state_dir: session (MQTT session counter), outbox.sqlite (store-and-forward
backlog), commands.json (command versions and epochs seen).
exit status: 0 clean stop, 2 bad configuration, 1 unexpected error.
"""


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog="kotanet-agent", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Measure this hotspot node's uplinks and users and report them to central "
                    "over MQTT 5, storing everything on disk first.")
    p.add_argument("--config", "-c", required=True, metavar="FILE",
                   help="agent.toml for this node (see docs/field guide)")
    p.add_argument("--check", action="store_true",
                   help="validate the configuration (and credentials files) and exit")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error"], help="default: info")
    p.add_argument("--version", action="version", version=f"kotanet-agent {__version__}")
    return p


def _check(cfg: AgentConfig) -> None:
    from agent.transport.url import resolve_target

    target = resolve_target(cfg)
    print(f"ok: node {cfg.node.site}/{cfg.node.id}, broker {target}, "
          f"config hash {cfg.config_hash()}")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        cfg = load_config(args.config)
        if args.check:
            _check(cfg)
            return 0
        from agent.runtime import Agent
        from agent.systemd import Notifier

        agent = Agent(cfg)
    except ConfigError as exc:
        print(f"kotanet-agent: config error: {exc}", file=sys.stderr)
        return 2
    agent.notifier = Notifier.from_env()
    log.info("kotanet-agent %s starting: node %s/%s", __version__, cfg.node.site, cfg.node.id)
    try:
        agent.run_forever()
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
