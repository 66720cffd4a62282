"""The manifest and the broker's password/ACL/config files; reload a running mosquitto."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

from provisioning.deployment import SERVICE_USERS, Deployment
from provisioning.mosquitto import (
    acl_file,
    check_password,
    generated_hash,
    is_current,
    mosquitto_conf,
    password_file,
    read_password_file,
    reader_acl,
)
from provisioning.pki import make_crl

log = logging.getLogger(__name__)

CENTRAL_USERS = ("central",)
READER_USERS = ("verifier",)
DEFAULT_PID_FILES = ("/run/mosquitto/mosquitto.pid", "/var/run/mosquitto/mosquitto.pid")
RELOADED_PREFIX = "SIGHUP -> pid "  # reload_broker's note when a pid was signalled
NOT_RELOADED = "NOT reloaded: install DIR/broker on the broker and run 'systemctl reload mosquitto'"


def load_manifest(dep: Deployment) -> dict[str, Any]:
    """The manifest ({'nodes': {...}}), empty if none was built yet."""
    if not dep.manifest_path.is_file():
        return {"version": 1, "nodes": {}}
    data: dict[str, Any] = json.loads(dep.manifest_path.read_text())
    return data


def _atomic_write(path: Path, text: str, mode: int = 0o600) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def save_manifest(dep: Deployment, manifest: dict[str, Any]) -> None:
    """Write the manifest (it holds password hashes) atomically, mode 0600, root 0700."""
    os.chmod(dep.root, 0o700)  # also tightens deployments made before roots were private
    _atomic_write(dep.manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n", 0o600)


def broker_users(nodes: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """({username: hash} of every admitted node user, {alias username: node id})."""
    hashes: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for node_id, entry in nodes.items():
        if entry.get("revoked"):
            continue
        for user, hashed in entry.get("hashes", {}).items():
            hashes[user] = hashed
            if user != node_id:
                aliases[user] = node_id
    return hashes, aliases


def node_users(nodes: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """{username: (site, node id)} of every admitted node: the node id itself (its password
    user, or its certificate CN) and each rotation alias (e.g. ``tks-01~g2``)."""
    users: dict[str, tuple[str, str]] = {}
    for node_id, entry in nodes.items():
        if entry.get("revoked"):
            continue
        for user in (node_id, *entry.get("hashes", {})):
            users[user] = (str(entry["site"]), node_id)
    return users


def write_broker_files(dep: Deployment, nodes: dict[str, Any]) -> None:
    """Rewrite passwd, acl and mosquitto.conf under DIR/broker from the manifest's nodes."""
    s = dep.settings
    dep.broker_dir.mkdir(parents=True, exist_ok=True)
    old = {}
    if (dep.broker_dir / "passwd").is_file():
        old = read_password_file((dep.broker_dir / "passwd").read_text())
    hashes, aliases = broker_users(nodes)
    for user in SERVICE_USERS:
        pw = dep.service_password(user)
        keep = old.get(user)
        fresh = keep and is_current(keep) and check_password(pw, keep)
        hashes[user] = keep if keep and fresh else generated_hash(pw)
    _atomic_write(dep.broker_dir / "passwd", password_file(hashes), 0o600)
    revoked = sorted(n for n, e in nodes.items() if e.get("revoked"))
    acl = (acl_file(s.topic_prefix, central_users=CENTRAL_USERS, nodes=node_users(nodes))
           + "\n# read-only users\n" + reader_acl(READER_USERS, s.topic_prefix)
           + "# revoked nodes (certificates stay valid until the CRL is loaded)\n"
           + "".join(f"user {n}\ntopic deny #\n\n" for n in revoked))
    _atomic_write(dep.broker_dir / "acl", acl, 0o600)
    etc = s.broker_etc.rstrip("/")
    tls: dict[str, str] = {"cafile": f"{etc}/ca.crt", "certfile": f"{etc}/server.crt",
                           "keyfile": f"{etc}/server.key"}
    if s.auth == "cert":
        tls["require_certificate"] = "true"
    conf = mosquitto_conf(port=s.broker_port, bind=s.broker_bind, password_file=f"{etc}/passwd",
                          acl_file=f"{etc}/acl", persistence_dir=s.broker_data,
                          log_file=s.broker_log, tls=tls, run_as=s.broker_run_as)
    if s.auth == "cert":
        serials = [int(nodes[n]["cert_serial"]) for n in revoked if nodes[n].get("cert_serial")]
        crl = make_crl(dep.read("ca.key"), dep.read("ca.crt"), serials)
        _atomic_write(dep.broker_dir / "crl.pem", crl.decode(), 0o644)
        conf += f"crlfile {etc}/crl.pem\n"
    _atomic_write(dep.broker_dir / "mosquitto.conf", conf, 0o644)
    log.info("broker files written: %d node user(s), %d alias(es)", len(hashes) - 2, len(aliases))


def reload_broker(pid_file: str | None) -> str:
    """Make mosquitto re-read its files: SIGHUP to the pid in pid_file (or a default pid file).

    Returns a note for logs: RELOADED_PREFIX + pid, or NOT_RELOADED when no pid file was
    found (nothing is reloaded then; there is no systemctl fallback)."""
    candidates = [pid_file] if pid_file else list(DEFAULT_PID_FILES)
    for path in candidates:
        try:
            pid = int(Path(path).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        os.kill(pid, signal.SIGHUP)
        return f"{RELOADED_PREFIX}{pid}"
    log.info("no mosquitto pid file found in %s: not reloaded", candidates)
    return NOT_RELOADED
