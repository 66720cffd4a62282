"""What each kotanet-provision subcommand does (argument parsing lives in provisioning.cli):
init, validate and build here; the card, verify and credential commands in cmd_*.py."""

from __future__ import annotations

import argparse
import errno
import logging
from collections.abc import Callable

from provisioning import cmd_card, cmd_creds, cmd_verify
from provisioning.aptrepo import REPO_DIR, RepoError, add_debs
from provisioning.brokerfiles import reload_broker, write_broker_files
from provisioning.build import build_all
from provisioning.cmdutil import (
    EXIT_OK,
    EXIT_REFUSED,
    deployment,
    load_valid_inventory,
    reload_result,
)
from provisioning.deployment import DeploymentError, Settings, init_deployment
from provisioning.i18n import Messages

log = logging.getLogger(__name__)

EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it


def cmd_init(m: Messages, a: argparse.Namespace) -> int:
    """init DIR: refuses a directory that already holds a deployment or a field kit."""
    dep = init_deployment(a.dir, Settings(
        broker_host=a.broker_host, broker_port=a.broker_port, broker_names=a.broker_name,
        broker_bind=a.broker_bind, broker_run_as=a.broker_user, broker_etc=a.broker_etc,
        broker_data=a.broker_data or None, broker_log=a.broker_log or None,
        topic_prefix=a.prefix, auth=a.auth, noc_url=a.noc_url, install_url=a.install_url,
        helpdesk=a.helpdesk, enroll_url=a.enroll_url, token_ttl_s=a.token_ttl))
    write_broker_files(dep, {})  # the broker skeleton: service users only
    print(m("init_done", dir=a.dir))
    return EXIT_OK


def cmd_validate(m: Messages, a: argparse.Namespace) -> int:
    """validate INVENTORY."""
    inv = load_valid_inventory(m, a.inventory)
    if inv is None:
        return EXIT_REFUSED
    print(m("inventory_ok", sites=len(inv.sites), nodes=len(inv.nodes)))
    return EXIT_OK


def cmd_build(m: Messages, a: argparse.Namespace) -> int:
    """build INVENTORY [--out DIR] [--readmit NODE] [--pid-file FILE]."""
    dep = deployment(a, full=True)
    inv = load_valid_inventory(m, a.inventory)
    if inv is None:
        return EXIT_REFUSED
    unknown = [n for n in a.readmit if n not in inv.nodes]
    if unknown:
        raise DeploymentError("readmit_unknown", nodes=", ".join(unknown), inventory=a.inventory)
    out = a.out or dep.root / "bundles"
    renewed: list[str] = []
    manifest = build_all(dep, inv, out, tuple(a.readmit), label=m("building"), renewed=renewed)
    stale = sorted(n for n, e in manifest["nodes"].items()
                   if n not in inv.nodes and not e.get("revoked"))
    still_revoked = sorted(n for n in inv.nodes if manifest["nodes"][n].get("revoked"))
    print(m("build_done", nodes=len(inv.nodes), dir=out))
    for node in renewed:
        print(m("build_renewed", node=node))
    if still_revoked:
        print(m("build_still_revoked", nodes=", ".join(still_revoked), inventory=a.inventory,
                node=still_revoked[0]))
    if stale:
        print(m("stale_nodes", nodes=", ".join(stale), node=stale[0]))
    if a.pid_file:
        return reload_result(m, dep, reload_broker(a.pid_file), a.pid_file)
    print(m("build_no_reload", dir=dep.broker_dir))
    return EXIT_OK


def cmd_fieldkit(m: Messages, a: argparse.Namespace) -> int:
    """fieldkit NODE... --out DIR (at the NOC, with the full deployment)."""
    dep = deployment(a, full=True)
    return cmd_card.fieldkit(m, dep, a)


def cmd_repo(m: Messages, a: argparse.Namespace) -> int:
    """repo FILE.deb...: add packages to DIR/apt and rewrite its index (at the NOC)."""
    dep = deployment(a, full=True)
    try:
        infos = add_debs(dep.root, list(a.debs))
    except RepoError as exc:
        raise DeploymentError("repo_bad_deb", file=", ".join(map(str, a.debs)),
                              reason=str(exc)) from None
    print(m("repo_done", dir=dep.root / REPO_DIR,
            packages=", ".join(f"{i.package} {i.version} ({i.architecture})" for i in infos)))
    return EXIT_OK


COMMANDS: dict[str, Callable[[Messages, argparse.Namespace], int]] = {
    "init": cmd_init, "validate": cmd_validate, "build": cmd_build, "sdcard": cmd_card.sdcard,
    "label": cmd_card.label, "fieldkit": cmd_fieldkit, "verify": cmd_verify.verify,
    "rotate": cmd_creds.rotate, "revoke": cmd_creds.revoke, "repo": cmd_repo,
}


#: errno values with a text of their own in the catalogue (others show their errno name)
OS_ERRORS = {errno.EACCES: "os_access", errno.EPERM: "os_access", errno.ENOENT: "os_missing",
             errno.ENOSPC: "os_full", errno.EROFS: "os_read_only", errno.EIO: "os_io",
             errno.ENOTDIR: "os_not_dir"}


def dispatch(args: argparse.Namespace, m: Messages) -> int:
    """Run one subcommand; a refusal prints one line in the technician's language, exit 1;
    a file that cannot be read or written is named with the cause, never a traceback."""
    try:
        return COMMANDS[args.cmd](m, args)
    except DeploymentError as exc:
        log.info("refused: %s", exc)
        print(m(exc.code, **exc.params))
        return EXIT_REFUSED
    except OSError as exc:
        log.info("%s failed", args.cmd, exc_info=True)
        key = OS_ERRORS.get(exc.errno or 0)
        reason = m(key) if key else errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        print(m("os_error", path=exc.filename or "-", reason=reason))
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print()
        print(m("interrupted"))
        return EXIT_INTERRUPTED
