"""kotanet-agent: run the node agent, check its configuration, or enrol the node (first boot)."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import types
from pathlib import Path
from typing import TYPE_CHECKING

from agent import __version__

if TYPE_CHECKING:
    from agent.config import AgentConfig
    from agent.runtime import Agent

log = logging.getLogger("agent.cli")

EPILOG = """\
examples:
  kotanet-agent --config /etc/kotanet/agent.toml --check
      validate the file (unknown or misspelt keys are errors) and exit 0, or print one line
      naming the bad key and exit 2
  kotanet-agent --config /etc/kotanet/agent.toml
      run until SIGTERM/SIGINT; under systemd (Type=notify) it sends READY=1 once started
      and WATCHDOG=1 after every sample stored in the outbox
  kotanet-agent enroll --central https://noc.kotimkab.go.id --out /etc/kotanet
      first boot: exchange the SD card's one-time token for this node's credentials
      (kotanet-agent enroll --help)
  kotanet-agent status | selftest | statuspage
      on site: the running agent's status, a check of everything with fix hints, and the
      LAN status page for phones (each has --help; docs/field-tools.md)

agent.toml: every section and key with its type, default and meaning is in
docs/agent-config.md (the file kotanet-provision build writes is a complete example).

files in [agent] state_dir: session (MQTT session counter), outbox.sqlite (store-and-forward
backlog), outbox.sqlite.seqfloor (seq floor), commands.json (command versions and epochs seen).

exit status: 0 clean stop, 2 bad configuration, 1 unexpected error.
"""

ENROLL_EPILOG = """\
example:
  kotanet-agent enroll --token-file /boot/firmware/kotanet/enroll.token \\
      --central https://noc.kotimkab.go.id --ca /boot/firmware/kotanet/ca.crt --out /etc/kotanet

Without --token-file the default places are tried; without --central the enroll_url of the
enroll.json next to the token is used; without --ca the ca.crt next to the token.
exit status: 0 enrolled; 3 refused by central for good (the code says why: expired,
already_used, bad_signature, unknown_node, revoked, ...); 1 still failing after --attempts
tries because central was unreachable or refused for a passing reason (rate_limited,
internal, not_configured), or its answer was unusable (bad_response): try again later;
2 no token found, no or non-https central URL. Codes: docs/field-guide.md section 4.
"""


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    p = argparse.ArgumentParser(
        prog="kotanet-agent", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Measure this hotspot node's uplinks and users and report them to central "
                    "over MQTT 5, storing everything on disk first.")
    p.add_argument("--config", "-c", required=True, metavar="FILE",
                   help="agent.toml for this node (keys: docs/agent-config.md)")
    p.add_argument("--check", action="store_true",
                   help="validate the configuration (and credentials files) and exit")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error"], help="default: info")
    p.add_argument("--version", action="version", version=f"kotanet-agent {__version__}")
    return p


def build_enroll_parser() -> argparse.ArgumentParser:
    """The parser of `kotanet-agent enroll`."""
    p = argparse.ArgumentParser(
        prog="kotanet-agent enroll", epilog=ENROLL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Exchange the one-time enrolment token from the SD card for this node's "
                    "agent.toml and MQTT password, then delete the token.")
    p.add_argument("--token-file", "--boot-token", action="append", type=Path, metavar="FILE",
                   help="token file (repeatable: the first that exists is used, all are "
                        "deleted after success)")
    p.add_argument("--central", metavar="URL", help="central's https:// URL (or enrol URL)")
    p.add_argument("--ca", metavar="FILE", help="CA certificate that signed central's TLS cert")
    p.add_argument("--out", type=Path, default=Path("/etc/kotanet"), metavar="DIR",
                   help="where agent.toml, ca.crt and mqtt-password go (default /etc/kotanet)")
    p.add_argument("--root", type=Path, metavar="DIR",
                   help="where the node's other files (hostapd, dnsmasq, openNDS, nftables, "
                        "sysctl, journald, units) go (default: ROOT when --out is "
                        "ROOT/etc/kotanet, so / by default; else they are not written); "
                        "services are started only for the root /")
    p.add_argument("--no-services", action="store_true",
                   help="write the files but do not enable or start any service")
    p.add_argument("--state-dir", type=Path, metavar="DIR",
                   help="where the agent keeps its seq floor and session counter (default: "
                        "[agent] state_dir of the delivered agent.toml)")
    p.add_argument("--attempts", type=int, default=30,
                   help="tries while central is unreachable or busy (default 30)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds per request")
    p.add_argument("--lang", choices=["id", "en"],
                   default="id" if os.environ.get("LANG", "").startswith("id") else "en")
    p.add_argument("--log-level", default="info",
                   choices=["debug", "info", "warning", "error"], help="default: info")
    return p


def enroll_main(argv: list[str]) -> int:
    """`kotanet-agent enroll ...`; returns the exit status."""
    from agent.enroll import DEFAULT_TOKEN_FILES, TRANSIENT, EnrollFailure, enroll

    args = build_enroll_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    files = args.token_file or [Path(p) for p in DEFAULT_TOKEN_FILES]
    root = args.root
    if root is None and args.out.resolve().parts[-2:] == ("etc", "kotanet"):
        root = args.out.resolve().parent.parent
    try:
        done = enroll(files, args.out, args.central, args.ca, args.attempts, args.timeout,
                      state_dir=args.state_dir, root=root,
                      services=not args.no_services and root == Path("/"))
    except EnrollFailure as exc:
        msg = exc.message_id if args.lang == "id" else exc.message
        word = "pendaftaran gagal" if args.lang == "id" else "enrolment failed"
        print(f"kotanet-agent enroll: {word} [{exc.code}]: {msg}", file=sys.stderr)
        if exc.code in ("no_token", "no_central", "insecure_url"):
            return 2
        return 1 if exc.code in TRANSIENT or exc.code == "bad_response" else 3
    word = "terdaftar" if args.lang == "id" else "enrolled"
    print(f"{word}: node {done.node} (user {done.username}), config hash {done.config_hash}, "
          f"{done.out}/agent.toml")
    if done.files_hash:
        words = (("berkas node", "berubah", "hash berkas") if args.lang == "id"
                 else ("node files", "changed", "files hash"))
        print(f"{words[0]}: {done.files_total}, {len(done.changed)} {words[1]}, "
              f"{words[2]} {done.files_hash}")
    for failed in done.failed_services:
        print(f"kotanet-agent enroll: {failed}: failed (journalctl)", file=sys.stderr)
    return 0


def _check(cfg: AgentConfig) -> None:
    from agent.transport.url import resolve_target

    target = resolve_target(cfg)
    print(f"ok: node {cfg.node.site}/{cfg.node.id}, broker {target}, "
          f"config hash {cfg.config_hash()}")


def skip_pydantic_plugins() -> None:
    """Tell pydantic there are no plugins before it looks for them (call before any model).

    pydantic's plugin loader imports importlib.metadata (zipfile, csv, importlib.resources:
    ~0.8 MB RSS, measured) just to scan installed packages for plugin entry points. The agent
    uses no pydantic plugin, so its process registers an empty loader instead. No effect if
    pydantic has already loaded its own.
    """
    name = "pydantic.plugin._loader"
    if name not in sys.modules:
        stub = types.ModuleType(name, "kotanet-agent: no pydantic plugins")
        stub.get_plugins = tuple  # type: ignore[attr-defined]  # get_plugins() -> ()
        sys.modules[name] = stub


def run_until_signal(agent: Agent) -> None:
    """Start, block until SIGTERM/SIGINT, then stop cleanly (RuntimeError if the loop died)."""
    done = threading.Event()
    died = False

    def on_signal(signum: int, frame: types.FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        done.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        agent.start()
        while not done.wait(1.0):
            if not agent.loop_alive():
                log.error("agent loop died; stopping")
                died = True
                break
    finally:
        agent.stop()
        for s, h in old.items():
            signal.signal(s, h)
    if died:
        raise RuntimeError("agent loop died (see log)")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["status"], ["selftest"], ["statuspage"]):  # technician tools
        from agent.fieldtools.cli import main as fieldtools_main

        return fieldtools_main(argv)
    skip_pydantic_plugins()
    from agent.config import ConfigError, load_config

    if argv[:1] == ["enroll"]:
        return enroll_main(argv[1:])
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
    from agent.nodeapply import applied_hash

    agent.files_hash = applied_hash(Path(args.config).parent)  # node-files.json beside it
    log.info("kotanet-agent %s starting: node %s/%s", __version__, cfg.node.site, cfg.node.id)
    try:
        run_until_signal(agent)
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
