"""Apply the node's files from the enrolment answer, idempotently, then start its services.

Each file is written only when its content differs (temporary file in the same directory,
fsync, rename, then the directory is fsynced), so a second run of the same card rewrites
nothing and leaves every mtime alone; a file whose content is right but whose mode or group
is not gets only chmod/chown. ``etc/kotanet/node-files.json`` records what was applied
(``files_hash``, per file sha256); the agent publishes that hash in its birth.
Services are enabled and (re)started in dependency order: kernel settings, journald, the
firewall, DHCP/DNS, the access point, the portal, then the agent and its status page; only a
service whose files changed is restarted, the others are started (a no-op when running).
"""

from __future__ import annotations

import base64
import binascii
import grp
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent import sysexec
from agent.transport.statefile import fsync_dir
from protocol.nodefiles import MANIFEST_NAME, MAX_FILE_BYTES, MAX_FILES, files_hash, valid_path

log = logging.getLogger(__name__)

#: (unit, files that concern it) in start order; a unit is handled when one of its files
#: is delivered (the agent and its status page always)
SERVICES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("systemd-sysctl.service", ("etc/sysctl.d/90-kotanet.conf",)),
    ("systemd-journald.service", ("etc/systemd/journald.conf.d/90-kotanet.conf",)),
    ("nftables.service", ("etc/nftables.conf",)),
    ("dnsmasq.service", ("etc/dnsmasq.d/kotanet.conf",)),
    ("hostapd.service", ("etc/hostapd/hostapd.conf",)),
    ("opennds.service", ("etc/config/opennds",)),
    ("kotanet-agent.service", ("etc/kotanet/", "etc/systemd/system/kotanet-agent.service")),
    ("kotanet-statuspage.service", ("etc/kotanet/agent.toml",)),
)
ALWAYS = ("kotanet-agent.service", "kotanet-statuspage.service")


class ApplyError(ValueError):
    """The delivered files are unusable (nothing was written)."""


@dataclass(frozen=True)
class NodeFile:
    """One delivered file."""

    path: str
    mode: int
    group: str
    data: bytes


def parse_files(raw: Any) -> list[NodeFile]:
    """The answer's ``node_files``, checked: paths under etc/, sizes, sha256 of each file."""
    if not isinstance(raw, list) or len(raw) > MAX_FILES:
        raise ApplyError(f"node_files is not a list of at most {MAX_FILES} files")
    out: list[NodeFile] = []
    for item in raw:
        try:
            path, group = str(item["path"]), str(item["group"])
            mode = int(str(item["mode"]), 8)
            data = base64.b64decode(str(item["data"]), validate=True)
            digest = str(item["sha256"])
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise ApplyError("a node file entry is malformed") from None
        if not valid_path(path) or mode & ~0o777 or len(data) > MAX_FILE_BYTES:
            raise ApplyError(f"node file {path!r} refused (path, mode or size)")
        if hashlib.sha256(data).hexdigest() != digest:
            raise ApplyError(f"node file {path} does not match its sha256")
        out.append(NodeFile(path, mode, group, data))
    return out


def gid_of(group: str) -> int:
    """The group's id, 0 (root) if the group does not exist (yet)."""
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        return 0  # no such group (yet): root's, with the same mode


def write_if_changed(target: Path, data: bytes, mode: int, gid: int) -> bool:
    """Write ``data`` atomically unless the file already holds it; fix mode/group in place.
    Returns True if the content was (re)written."""
    try:
        st = target.stat()
        same = st.st_size == len(data) and target.read_bytes() == data
    except FileNotFoundError:
        st, same = None, False
    if same and st is not None:
        if (st.st_mode & 0o777) != mode:
            os.chmod(target, mode)
        if st.st_gid != gid and os.geteuid() == 0:
            os.chown(target, 0, gid)
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if os.geteuid() == 0:
            os.chown(tmp, 0, gid)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(target.parent)
    return True


def apply_files(root: Path, files: list[NodeFile]) -> list[str]:
    """Write the files under ``root`` (``/`` on a node); returns the paths whose content
    changed, and records the applied set in etc/kotanet/node-files.json."""
    changed = [f.path for f in files
               if write_if_changed(root / f.path, f.data, f.mode, gid_of(f.group))]
    record = {"schema": "kotanet.node_files/1",
              "files_hash": files_hash((f.path, f.data) for f in files),
              "files": {f.path: hashlib.sha256(f.data).hexdigest() for f in files}}
    body = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
    write_if_changed(root / "etc/kotanet" / MANIFEST_NAME, body, 0o640, gid_of("kotanet"))
    log.info("node files applied: %d of %d changed", len(changed), len(files))
    return changed


def applied_hash(etc_dir: Path) -> str | None:
    """The files_hash recorded by the last apply, checked against the files themselves (None:
    never applied here, or unreadable). ``etc_dir`` is the config's directory (/etc/kotanet):
    a file changed or removed since then gives ``modified:<digest of what is there>``, which
    `verify` shows as a mismatch; a file this user may not read (hostapd.conf for the kotanet
    user) is taken as recorded."""
    try:
        record = json.loads((etc_dir / MANIFEST_NAME).read_text())
        value, files = record["files_hash"], dict(record["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(value, str) or not 0 < len(value) <= 128:
        return None
    root = etc_dir.parent.parent
    actual: dict[str, str] = {}
    for path, recorded in sorted(files.items()):
        try:
            actual[path] = hashlib.sha256((root / path).read_bytes()).hexdigest()
        except PermissionError:
            actual[path] = str(recorded)
        except OSError:
            actual[path] = "missing"
    if actual == files:
        return value
    digest = hashlib.sha256(json.dumps(actual, sort_keys=True).encode()).hexdigest()
    log.warning("node files changed since they were applied: %s",
                ", ".join(p for p in actual if actual[p] != files[p]))
    return f"modified:{digest[:40]}"


def service_plan(files: list[NodeFile], changed: list[str]) -> list[list[str]]:
    """The systemctl commands, in order: daemon-reload, then per unit enable + (re)start."""
    paths = [f.path for f in files]
    plan: list[list[str]] = [["systemctl", "daemon-reload"]]
    if "etc/hostapd/hostapd.conf" in paths:  # Debian ships hostapd masked until configured
        plan.append(["systemctl", "unmask", "hostapd.service"])
    for unit, wants in SERVICES:
        if unit not in ALWAYS and not any(p.startswith(w) for p in paths for w in wants):
            continue
        dirty = any(p.startswith(w) for p in changed for w in wants)
        if not unit.startswith("systemd-"):
            plan.append(["systemctl", "enable", unit])
        # the enrolment unit runs this and kotanet-agent is ordered after it: waiting for
        # that job from inside the enrolment unit would deadlock, so only queue it
        queue = ["--no-block"] if unit in ALWAYS else []
        plan.append(["systemctl", *queue, "restart" if dirty else "start", unit])
    return plan


def run_plan(plan: list[list[str]]) -> list[str]:
    """Run the plan; a failing step is logged and the rest still runs. Returns the failures."""
    failed = []
    for cmd in plan:
        res = sysexec.run(cmd, timeout=90.0)
        if not res.ok:
            log.warning("%s failed: %s", " ".join(cmd), res.stderr.strip()[:200])
            failed.append(" ".join(cmd))
    return failed
