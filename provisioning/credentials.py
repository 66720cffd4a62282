"""Rotate a node's broker credentials without lock-out, and revoke a node at once.

Rotation scheme (password auth). Mosquitto has one password per user, so a rotation adds a
*second username* for the same node: ``<node>~g<N>`` (ids cannot contain '~', so it can never
collide with a node, and the ACL's ``%u`` patterns match nothing for it). Explicit ACL lines give
the alias exactly the node's rights. Steps:

1. ``rotate NODE``: new random password for ``NODE~gN``; the broker accepts both the current
   user and the alias; the bundle's agent.toml now names the alias and its password file holds
   the new password; the manifest's config hash follows the new agent.toml.
2. Deliver the bundle; the agent reconnects with the new credentials (old ones still work).
3. ``rotate NODE --confirm`` once the broker has seen the node log in as the alias
   (provisioning.rotation): the old user is removed and the alias becomes the node's only user.

At every moment the credentials the node holds are valid at the broker.
"""

from __future__ import annotations

import logging
import secrets
import time
import tomllib
from pathlib import Path
from typing import Any

from agent.config import parse_config
from provisioning.agenttoml import dump_toml
from provisioning.brokerfiles import load_manifest, reload_broker, save_manifest, write_broker_files
from provisioning.deployment import Deployment, DeploymentError
from provisioning.mosquitto import check_password, generated_hash
from provisioning.nodefiles import bundle_hash
from provisioning.pki import write_secret

log = logging.getLogger(__name__)


class CredentialError(DeploymentError):
    """The operation does not apply to this node (unknown, revoked, nothing pending...)."""


def _entry(manifest: dict[str, Any], node: str) -> dict[str, Any]:
    entry = manifest.get("nodes", {}).get(node)
    if entry is None:
        raise CredentialError("unknown_node_manifest", node=node)
    return dict(entry)


def _password_entry(dep: Deployment, node: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(manifest, entry) of an admitted password node; CredentialError otherwise."""
    manifest = load_manifest(dep)
    entry = _entry(manifest, node)
    if entry.get("revoked"):
        raise CredentialError("node_revoked", node=node)
    if entry.get("auth") == "cert":
        raise CredentialError("cert_no_rotation", node=node)
    return manifest, entry


def _rewrite_agent_toml(bundle: Path, username: str) -> str:
    """Point the bundle's agent.toml at a username; return the new config hash."""
    path = bundle / "etc/kotanet/agent.toml"
    text = path.read_text()
    header = text.splitlines()[0] if text.startswith("#") else ""
    data = tomllib.loads(text)
    node_id = data["node"]["id"]
    if username == node_id:
        data["mqtt"].pop("username", None)
    else:
        data["mqtt"]["username"] = username
    new_text = dump_toml(data, header)
    cfg = parse_config(tomllib.loads(new_text), str(path))
    path.write_text(new_text)
    return cfg.config_hash()


def rotate(dep: Deployment, node: str, pid_file: str | None = None) -> tuple[str, str]:
    """Start a rotation: add the alias user with a new password. Returns (alias, reload note)."""
    manifest, entry = _password_entry(dep, node)
    if entry.get("pending_user"):
        raise CredentialError("rotate_pending", node=node, user=entry["pending_user"])
    gen = int(entry.get("generation", 0)) + 1
    alias = f"{node}~g{gen}"
    password = secrets.token_urlsafe(24)
    entry["hashes"] = {**entry["hashes"], alias: generated_hash(password)}
    entry.update(pending_user=alias, generation=gen, rotation_started=int(time.time()),
                 previous_config_hash=entry.get("config_hash"))
    # broker first: the new credentials are valid before the node can possibly hold them
    manifest["nodes"][node] = entry
    write_broker_files(dep, manifest["nodes"])
    save_manifest(dep, manifest)
    note = reload_broker(pid_file)
    write_secret(dep.bundle(entry) / "etc/kotanet/mqtt-password", (password + "\n").encode())
    entry["config_hash"] = _rewrite_agent_toml(dep.bundle(entry), alias)
    entry["files_hash"] = bundle_hash(dep.bundle(entry))
    manifest["nodes"][node] = entry
    save_manifest(dep, manifest)
    log.info("rotation of %s started with user %s", node, alias)
    return alias, note


def confirm(dep: Deployment, node: str, pid_file: str | None = None) -> tuple[str, str]:
    """Finish a rotation: remove the old user. Returns (the node's only user, reload note)."""
    manifest = load_manifest(dep)
    entry = _entry(manifest, node)
    pending = entry.get("pending_user")
    if not pending:
        raise CredentialError("rotate_nothing", node=node)
    entry["hashes"] = {pending: entry["hashes"][pending]}
    entry.update(user=pending, pending_user=None, rotation_started=None,
                 previous_config_hash=None)
    manifest["nodes"][node] = entry
    write_broker_files(dep, manifest["nodes"])
    save_manifest(dep, manifest)
    return pending, reload_broker(pid_file)


def revoke(dep: Deployment, node: str, pid_file: str | None = None) -> str:
    """Remove every broker user of the node, mark it revoked, reload the broker at once."""
    manifest = load_manifest(dep)
    entry = _entry(manifest, node)
    entry.update(revoked=True, hashes={}, pending_user=None, rotation_started=None)
    manifest["nodes"][node] = entry
    write_broker_files(dep, manifest["nodes"])
    save_manifest(dep, manifest)
    log.info("node %s revoked", node)
    return reload_broker(pid_file)


def admit_enrolled(dep: Deployment, node: str, password: str,
                   pid_file: str | None = None) -> tuple[str, str]:
    """Make the broker accept the password an enrolling node chose; return (username, note).

    The password replaces the bundle's (so later builds keep it: no lock-out) under the
    username the bundle's agent.toml names (the pending alias during a rotation).
    """
    manifest, entry = _password_entry(dep, node)
    user = entry.get("pending_user") or entry.get("user") or node
    current = entry.get("hashes", {}).get(user)
    pw_file = dep.bundle(entry) / "etc/kotanet/mqtt-password"
    if current and check_password(password, current):
        note = "unchanged"
    else:
        entry["hashes"] = {**entry.get("hashes", {}), user: generated_hash(password)}
        manifest["nodes"][node] = entry
        write_broker_files(dep, manifest["nodes"])
        save_manifest(dep, manifest)
        note = reload_broker(pid_file)
    write_secret(pw_file, (password + "\n").encode())
    log.info("node %s admitted at the broker as %s after enrolment", node, user)
    return user, note
