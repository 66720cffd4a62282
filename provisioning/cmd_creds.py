"""rotate and revoke: changes at the broker that must never lock out a node by a slip of the
hand. `rotate --confirm` needs proof that the node logged in with its new username; `revoke`
asks first; both exit 3 when mosquitto was not reloaded (the change is not in force)."""

from __future__ import annotations

import argparse
import logging

from provisioning import credentials, rotation
from provisioning.cmdutil import EXIT_REFUSED, ask, deployment, node_entry, reload_result
from provisioning.deployment import DeploymentError
from provisioning.i18n import Messages, wib

log = logging.getLogger(__name__)


def rotate(m: Messages, a: argparse.Namespace) -> int:
    """rotate NODE, later rotate NODE --confirm [--force]."""
    dep = deployment(a, full=True)
    entry = node_entry(dep, a.node)
    if not a.confirm:
        if a.force:
            raise DeploymentError("force_needs_confirm")
        alias, note = credentials.rotate(dep, a.node, a.pid_file)
        print(m("rotate_started", node=a.node, user=alias, bundle=dep.bundle(entry)))
        return reload_result(m, dep, note, a.pid_file)
    pending = entry.get("pending_user")
    if not pending:
        raise DeploymentError("rotate_nothing", node=a.node)
    seen = rotation.login_evidence(dep, a.node, entry)
    if seen is not None:
        print(m("rotate_login_seen", user=pending, when=wib(seen.at),
                source=m(f"src_{seen.source}", where=seen.where)))
    elif a.force:
        print(m("rotate_force_warning", node=a.node, user=pending))
    else:
        where = (m("src_log_silent", log=dep.settings.broker_log) if rotation.log_readable(dep)
                 else m("src_log_unreadable", log=dep.settings.broker_log or "-"))
        raise DeploymentError("rotate_no_login", node=a.node, user=pending, where=where)
    user, note = credentials.confirm(dep, a.node, a.pid_file)
    print(m("rotate_confirmed", node=a.node, user=user))
    return reload_result(m, dep, note, a.pid_file)


def revoke(m: Messages, a: argparse.Namespace) -> int:
    """revoke NODE [--yes]: asks the technician to type the node id unless --yes."""
    dep = deployment(a, full=True)
    entry = node_entry(dep, a.node)
    if not a.yes:
        print(m("revoke_what", node=a.node, site=entry.get("site_name") or entry.get("site")))
        if not ask(m, "revoke_ask", a.node):
            print(m("revoke_cancelled", node=a.node))
            return EXIT_REFUSED
    note = credentials.revoke(dep, a.node, a.pid_file)
    print(m("revoked", node=a.node))
    return reload_result(m, dep, note, a.pid_file)
