"""A field kit: what a field laptop needs for `sdcard`, `label` and `verify` of some nodes.

Made at the NOC with ``kotanet-provision fieldkit NODE... --out DIR``; used on site with
``-d DIR``. It holds, per node, the seed's inputs (agent.toml and the enrolment unit of the
bundle, one enrolment token minted in advance), the CA certificate, central's public
verification key, the verifier's broker password and the deployment settings, and never the
CA key, the signing key, a node password or a password hash. Layout::

    DIR/fieldkit.json                     marker: created, expires, nodes
    DIR/deployment.json                   settings (broker, prefix, install URL, helpdesk)
    DIR/manifest.json                     per node: site, config hash, uplinks, SSID (no hashes)
    DIR/pki/ca.crt, pki/signing.pub       certificates and public keys only
    DIR/secrets/verifier.password         the read-only broker user (mode 0600)
    DIR/tokens/<node>.token               one-time enrolment token (mode 0600)
    DIR/bundles/nodes/<node>/etc/...      agent.toml, systemd/system/kotanet-enroll.service
    DIR/apt/                              the deployment's apt repository (agent .deb), if any
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from provisioning.aptrepo import REPO_DIR, copy_repo, has_repo
from provisioning.brokerfiles import load_manifest
from provisioning.deployment import FIELDKIT_MARKER, Deployment, DeploymentError
from provisioning.pki import write_secret
from provisioning.tokens import check_token, mint_token

log = logging.getLogger(__name__)

#: manifest fields a field laptop may see (no hashes, users or certificate serials)
KIT_FIELDS = ("site", "role", "config_hash", "files_hash", "previous_config_hash", "auth", "uplinks", "ssid",
              "lan_ip", "lan_prefixlen", "site_name", "revoked")
BUNDLE_FILES = ("etc/kotanet/agent.toml", "etc/systemd/system/kotanet-enroll.service")
WRITTEN_SUFFIX = ".written"


def export(dep: Deployment, nodes: list[str], out: Path, now: float | None = None) -> float:
    """Write a field kit for `nodes` into `out`; returns when its tokens expire (Unix time)."""
    manifest = load_manifest(dep)["nodes"]
    if dep.settings.auth == "cert":
        raise DeploymentError("fieldkit_cert")
    for node in nodes:
        entry = manifest.get(node)
        if entry is None:
            raise DeploymentError("unknown_node", node=node, path=dep.manifest_path)
        if entry.get("revoked"):
            raise DeploymentError("revoked_already", node=node)
    if out.exists() and any(out.iterdir()) and not (out / FIELDKIT_MARKER).is_file():
        raise DeploymentError("fieldkit_out_not_empty", dir=out)
    if out.exists():
        shutil.rmtree(out)  # an older field kit: replaced as a whole (its tokens stay valid)
    t = time.time() if now is None else now
    out.mkdir(mode=0o700, parents=True)
    (out / "pki").mkdir()
    (out / "pki/ca.crt").write_bytes(dep.read("ca.crt"))
    (out / "pki/signing.pub").write_bytes(dep.read("signing.pub"))
    write_secret(out / "secrets/verifier.password",
                 (dep.service_password("verifier") + "\n").encode())
    (out / "deployment.json").write_text(json.dumps(asdict(dep.settings), indent=2) + "\n")
    if has_repo(dep.root):  # the agent package goes onto every card
        copy_repo(dep.root, out / REPO_DIR)
    kit_nodes: dict[str, Any] = {}
    expires = t + dep.settings.token_ttl_s
    for node in nodes:
        entry = manifest[node]
        rel = f"bundles/nodes/{node}"
        for name in BUNDLE_FILES:
            target = out / rel / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(dep.bundle(entry) / name, target)
        token, claims = mint_token(dep.read("signing.key"), node, entry["site"],
                                   dep.settings.token_ttl_s, t)
        write_secret(out / "tokens" / f"{node}.token", (token + "\n").encode())
        expires = min(expires, float(claims["exp"]))
        kit_nodes[node] = {**{k: entry.get(k) for k in KIT_FIELDS}, "bundle": rel}
    (out / "manifest.json").write_text(json.dumps({"version": 1, "nodes": kit_nodes},
                                                  indent=2, sort_keys=True) + "\n")
    (out / FIELDKIT_MARKER).write_text(json.dumps(
        {"created": int(t), "expires": int(expires), "nodes": sorted(nodes),
         "source": str(dep.root)}, indent=2) + "\n")
    log.info("field kit for %s written to %s", ", ".join(nodes), out)
    return expires


def card_token(dep: Deployment, node: str, site: str,
               now: float | None = None) -> tuple[str, dict[str, Any], float | None]:
    """The enrolment token for a new card: (token, claims, when the kit's token was last
    written to a card or None). A deployment mints a fresh one; a field kit has one per node."""
    if not dep.is_fieldkit:
        token, claims = mint_token(dep.read("signing.key"), node, site,
                                   dep.settings.token_ttl_s, now)
        return token, claims, None
    path = dep.root / "tokens" / f"{node}.token"
    if not path.is_file():
        raise DeploymentError("fieldkit_no_token", node=node)
    token = path.read_text().strip()
    t = time.time() if now is None else now
    try:
        claims = check_token(dep.read("signing.pub"), token, t)
    except ValueError:  # TokenError: expired, or a damaged file
        raise DeploymentError("fieldkit_token_expired", node=node) from None
    marker = path.with_name(path.name + WRITTEN_SUFFIX)
    written = float(marker.read_text().strip() or 0) if marker.is_file() else None
    return token, claims, written


def mark_written(dep: Deployment, node: str, now: float | None = None) -> None:
    """Remember in a field kit that its token of `node` is now on a card."""
    if dep.is_fieldkit:
        marker = dep.root / "tokens" / f"{node}.token{WRITTEN_SUFFIX}"
        marker.write_text(f"{int(time.time() if now is None else now)}\n")
