"""What each kotanet-provision subcommand does (argument parsing lives in provisioning.cli)."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from provisioning import credentials
from provisioning.brokerfiles import (
    DEFAULT_PID_FILES,
    RELOADED_PREFIX,
    load_manifest,
    reload_broker,
)
from provisioning.build import build_all
from provisioning.deployment import (
    DEFAULT_NOC_URL,
    LEGACY_NOC_URL,
    Deployment,
    DeploymentError,
    Settings,
    init_deployment,
)
from provisioning.i18n import Messages
from provisioning.inventory import Issue, load_inventory
from provisioning.label import noc_url, write_label
from provisioning.rules import Inventory, validate
from provisioning.seed import CLOUD_INIT, CUSTOM_TOML, SeedError, write_seed
from provisioning.verify import Expectation, VerifyError, run_verify

log = logging.getLogger(__name__)
OS_ALIASES = {"auto": None, "trixie": CLOUD_INIT, "bookworm": CUSTOM_TOML,
              CLOUD_INIT: CLOUD_INIT, CUSTOM_TOML: CUSTOM_TOML}


def format_issue(m: Messages, issue: Issue) -> str:
    """One problem as 'file:line: field: message' in the chosen language."""
    return f"{issue.file}:{issue.line}: {issue.field}: {m(issue.code, **issue.params)}"


def _inventory(m: Messages, path: Path) -> Inventory | None:
    inv, issues = validate(load_inventory(path))
    for issue in issues:
        print(format_issue(m, issue))
    if inv is None:
        print(m("inventory_errors", count=len(issues)))
    return inv


def _deployment(m: Messages, args: argparse.Namespace) -> Deployment:
    dep = Deployment(args.deployment)
    if not dep.exists():
        raise DeploymentError(m("no_deployment", dir=dep.root))
    return dep


def _node(m: Messages, dep: Deployment, node: str) -> dict[str, Any]:
    entry = load_manifest(dep)["nodes"].get(node)
    if entry is None:
        raise DeploymentError(m("unknown_node", node=node, path=dep.manifest_path))
    return dict(entry)


def reload_line(m: Messages, dep: Deployment, note: str, pid_file: str | None) -> str:
    """The technician's line for a reload_broker note: reloaded (pid), or what to do now."""
    if note.startswith(RELOADED_PREFIX):
        return m("broker_reloaded", pid=note.removeprefix(RELOADED_PREFIX))
    files = pid_file or ", ".join(DEFAULT_PID_FILES)
    return m("broker_not_reloaded", files=files, dir=dep.broker_dir)


def cmd_init(m: Messages, a: argparse.Namespace) -> int:
    """init DIR."""
    if Deployment(a.dir).exists():
        print(m("init_exists", dir=a.dir))
        return 1
    init_deployment(a.dir, Settings(
        broker_host=a.broker_host, broker_port=a.broker_port, broker_names=a.broker_name,
        broker_bind=a.broker_bind, broker_run_as=a.broker_user, broker_etc=a.broker_etc, broker_data=a.broker_data or None,
        broker_log=a.broker_log or None, topic_prefix=a.prefix, auth=a.auth,
        noc_url=a.noc_url, enroll_url=a.enroll_url, token_ttl_s=a.token_ttl))
    print(m("init_done", dir=a.dir))
    return 0


def cmd_validate(m: Messages, a: argparse.Namespace) -> int:
    """validate INVENTORY."""
    inv = _inventory(m, a.inventory)
    if inv is None:
        return 1
    print(m("inventory_ok", sites=len(inv.sites), nodes=len(inv.nodes)))
    return 0


def cmd_build(m: Messages, a: argparse.Namespace) -> int:
    """build INVENTORY [--out DIR]."""
    dep = _deployment(m, a)
    inv = _inventory(m, a.inventory)
    if inv is None:
        return 1
    out = a.out or dep.root / "bundles"
    manifest = build_all(dep, inv, out, tuple(a.readmit), label=m("building"))
    stale = sorted(n for n, e in manifest["nodes"].items()
                   if n not in inv.nodes and not e.get("revoked"))
    note = reload_broker(a.pid_file) if a.pid_file else None
    print(m("build_done", nodes=len(inv.nodes), dir=out))
    if note is not None:
        print(reload_line(m, dep, note, a.pid_file))
    if stale:
        print(m("stale_nodes", nodes=", ".join(stale)))
    return 0


def cmd_sdcard(m: Messages, a: argparse.Namespace) -> int:
    """sdcard NODE --boot PATH."""
    dep = _deployment(m, a)
    entry = _node(m, dep, a.node)
    if entry.get("revoked"):
        print(m("revoked_already", node=a.node))
        return 1
    keys = [k.read_text().strip() for k in a.ssh_key]
    try:
        kind, claims = write_seed(dep, entry, a.node, a.boot, OS_ALIASES[a.os], keys)
    except SeedError:
        print(m("sdcard_unknown_os", boot=a.boot))
        return 1
    until = dt.datetime.fromtimestamp(claims["exp"], dt.UTC).strftime("%Y-%m-%d %H:%M")
    print(m("sdcard_done", node=a.node, boot=a.boot, os=kind, until=until))
    return 0


def cmd_label(m: Messages, a: argparse.Namespace) -> int:
    """label NODE."""
    dep = _deployment(m, a)
    entry = _node(m, dep, a.node)
    template = a.noc_url or dep.settings.noc_url
    if template == LEGACY_NOC_URL:  # the old init default pointed at a page central lacks
        template = DEFAULT_NOC_URL
    url = noc_url(template, a.node)
    files = write_label(a.out, a.node, url, entry.get("site_name", ""), entry.get("ssid", ""))
    print(m("label_done", files=", ".join(str(f) for f in files)))
    return 0


def cmd_verify(m: Messages, a: argparse.Namespace) -> int:
    """verify NODE --mqtt-url URL."""
    dep = _deployment(m, a)
    entry = _node(m, dep, a.node)
    pw_file = a.password_file or dep.secrets / f"{a.user}.password"
    password = pw_file.read_text().strip() if pw_file.is_file() else None
    ca = str(a.ca or dep.pki / "ca.crt")
    cert = key = None
    if dep.settings.auth == "cert":
        cert, key = str(dep.secrets / f"{a.user}.crt"), str(dep.secrets / f"{a.user}.key")
    exp = Expectation(a.node, entry["site"], entry["config_hash"], list(entry["uplinks"]))
    print(m("verify_title", node=a.node, url=a.mqtt_url))
    try:
        checks = run_verify(exp, a.mqtt_url, dep.settings.topic_prefix, a.timeout,
                            username=a.user, password=password, ca_file=ca,
                            cert_file=cert, key_file=key)
    except VerifyError as exc:
        print(m("mqtt_failed", url=a.mqtt_url, reason=exc))
        return 2
    for c in checks:
        params = dict(c.params)
        if c.key == "chk_throttle" and not params.get("state"):
            params["state"] = m("throttle_none")
        mark = "✓" if c.ok else ("✗" if c.required else "⚠")
        suffix = "" if c.required else f" {m('optional')}"
        print(f"  {mark} {m(c.key, **params)}{suffix}")
    ok = all(c.ok for c in checks if c.required)
    print(m("verify_pass" if ok else "verify_fail", node=a.node))
    return 0 if ok else 1


def cmd_rotate(m: Messages, a: argparse.Namespace) -> int:
    """rotate NODE [--confirm]."""
    dep = _deployment(m, a)
    entry = _node(m, dep, a.node)
    if a.confirm:
        if not entry.get("pending_user"):
            print(m("rotate_nothing", node=a.node))
            return 1
        user, note = credentials.confirm(dep, a.node, a.pid_file)
        print(m("rotate_confirmed", node=a.node, user=user))
        print(reload_line(m, dep, note, a.pid_file))
        return 0
    alias, note = credentials.rotate(dep, a.node, a.pid_file)
    print(m("rotate_started", node=a.node, user=alias, bundle=entry["bundle"]))
    print(reload_line(m, dep, note, a.pid_file))
    return 0


def cmd_revoke(m: Messages, a: argparse.Namespace) -> int:
    """revoke NODE."""
    dep = _deployment(m, a)
    _node(m, dep, a.node)
    note = credentials.revoke(dep, a.node, a.pid_file)
    print(m("revoked", node=a.node))
    print(reload_line(m, dep, note, a.pid_file))
    return 0


COMMANDS: dict[str, Callable[[Messages, argparse.Namespace], int]] = {
    "init": cmd_init, "validate": cmd_validate, "build": cmd_build, "sdcard": cmd_sdcard,
    "label": cmd_label, "verify": cmd_verify, "rotate": cmd_rotate, "revoke": cmd_revoke,
}


def dispatch(args: argparse.Namespace) -> int:
    """Run one subcommand; known failures print one line and return non-zero."""
    m = Messages(args.lang)
    try:
        return COMMANDS[args.cmd](m, args)
    except DeploymentError as exc:
        print(str(exc))
        return 1
