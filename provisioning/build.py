"""inventory -> per-node bundles (root-file-system overlays), broker files and the manifest."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from provisioning.agenttoml import render_agent_toml
from provisioning.brokerfiles import load_manifest, save_manifest, write_broker_files
from provisioning.deployment import Deployment, ensure_command_key
from provisioning.model import Inventory, Node
from provisioning.mosquitto import check_password, generated_hash, is_current
from provisioning.nodefiles import bundle_hash
from provisioning.pki import cert_serial, issue_cert, write_secret
from provisioning.progress import Progress
from provisioning.render import node_files

log = logging.getLogger(__name__)

SECRET_FILES = ("etc/kotanet/mqtt-password", "etc/kotanet/client.key",
                "etc/hostapd/hostapd.conf")


def _write(path: Path, text: str | bytes, secret: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    if secret:
        write_secret(path, data)
    else:
        path.write_bytes(data)


def _password(bundle: Path, entry: dict[str, Any] | None, user: str) -> tuple[str, str, bool]:
    """Keep the node's current password if the bundle still has it (no lock-out on rebuild);
    a kept password with an old, weaker hash is re-hashed. Returns (password, hash, kept)."""
    pw_file = bundle / "etc/kotanet/mqtt-password"
    if entry and pw_file.is_file():
        pw = pw_file.read_text().strip()
        hashed = entry.get("hashes", {}).get(user)
        if hashed and check_password(pw, hashed):
            return pw, hashed if is_current(hashed) else generated_hash(pw), True
    pw = secrets.token_urlsafe(24)
    return pw, generated_hash(pw), False


def build_node(dep: Deployment, node: Node, bundle: Path, entry: dict[str, Any] | None,
               nodes_at_site: int, renewed: list[str] | None = None) -> dict[str, Any]:
    """Write one node's bundle; return its manifest entry. A node whose bundle lost its
    password gets a new one and is added to `renewed` (the caller tells the technician)."""
    s = dep.settings
    user = (entry or {}).get("user") or node.id
    pending = (entry or {}).get("pending_user")
    bundle_user = pending or user  # during a rotation the bundle already carries the new user
    text, cfg = render_agent_toml(node, s.broker(), bundle_user, nodes_at_site,
                                  ensure_command_key(dep))
    files: dict[str, str | bytes] = {"etc/kotanet/agent.toml": text, **node_files(
        node, agent_bin=s.agent_bin), "etc/kotanet/ca.crt": dep.read("ca.crt")}
    hashes: dict[str, str] = dict((entry or {}).get("hashes", {}))
    serial = (entry or {}).get("cert_serial")
    if s.auth == "cert":
        if not (bundle / "etc/kotanet/client.crt").is_file() or not entry:
            key, crt = issue_cert(dep.read("ca.key"), dep.read("ca.crt"), node.id, server=False)
            files["etc/kotanet/client.key"], files["etc/kotanet/client.crt"] = key, crt
            serial = cert_serial(crt)
    else:
        pw, hashed, kept = _password(bundle, entry, bundle_user)
        if entry and not kept:
            log.info("node %s: bundle password missing, new password issued", node.id)
            if renewed is not None:
                renewed.append(node.id)
        files["etc/kotanet/mqtt-password"] = pw + "\n"
        hashes[bundle_user] = hashed
    for rel, content in files.items():
        _write(bundle / rel, content, secret=rel in SECRET_FILES)
    return {"site": node.site.id, "role": node.site.kind, "config_hash": cfg.config_hash(),
            "files_hash": bundle_hash(bundle),
            "bundle": str(bundle.resolve()), "auth": s.auth, "user": user,
            "pending_user": pending, "hashes": hashes, "cert_serial": serial,
            "rotation_started": (entry or {}).get("rotation_started") if pending else None,
            "previous_config_hash": (entry or {}).get("previous_config_hash") if pending else None,
            "generation": (entry or {}).get("generation", 0), "revoked": False,
            "uplinks": [u.name for u in node.uplinks], "ssid": node.ssid,
            "lan_ip": str(node.lan_subnet.network_address + 1),
            "lan_prefixlen": node.lan_subnet.prefixlen,
            "site_name": node.site.name}


def build_all(dep: Deployment, inv: Inventory, out: Path, readmit: tuple[str, ...] = (),
              stream: TextIO | None = None, label: str = "Building",
              renewed: list[str] | None = None) -> dict[str, Any]:
    """Build every node (keeping revoked nodes revoked unless re-admitted); write broker files."""
    manifest = load_manifest(dep)
    nodes: dict[str, Any] = manifest.setdefault("nodes", {})
    per_site = Counter(n.site.id for n in inv.nodes.values())
    progress = Progress(len(inv.nodes), label, stream)
    for node_id, node in sorted(inv.nodes.items()):
        entry = nodes.get(node_id)
        if entry and entry.get("revoked") and node_id not in readmit:
            progress.step(f"{node_id} (revoked)")
            continue
        if entry and entry.get("revoked"):
            entry = None
            shutil.rmtree(out / "nodes" / node_id, ignore_errors=True)
        nodes[node_id] = build_node(dep, node, out / "nodes" / node_id, entry,
                                    per_site[node.site.id], renewed)
        progress.step(node_id)
    write_broker_files(dep, nodes)
    save_manifest(dep, manifest)
    os.chmod(out, 0o700)
    log.info("built %d node(s) into %s", len(inv.nodes), out)
    return manifest
