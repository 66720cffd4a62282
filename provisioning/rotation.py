"""Has the broker seen a rotated node log in with its new username? (`rotate --confirm`)

Two signals, either is enough:

* **the broker's log** (``broker_log`` of deployment.json, and its logrotate sibling ``.1``)
  when this machine can read it: mosquitto writes ``<unix time>: New client connected from
  ADDR as CLIENT (p5, c0, k30, u'<username>').`` only after the password was accepted, so a
  line with the alias username written after the rotation started is the login itself;
* **a birth seen by `verify`** on this deployment carrying the rotated config hash: that hash
  covers ``mqtt.username`` of the new agent.toml, so the agent that sent it runs the new bundle
  and is connected with the alias. `verify` records it in ``DIR/rotations/<node>.json``.

Nothing here changes the broker; `provisioning.credentials.confirm` acts on the answer.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.deployment import Deployment

log = logging.getLogger(__name__)

_LOGIN = re.compile(r"^(\d+): New client connected from \S+ as \S+ \(.*\bu'(?P<user>[^']*)'\)\.?$")
MAX_LOG_BYTES = 64 * 1024 * 1024  # read at most the last 64 MiB of a log file


@dataclass(frozen=True)
class Evidence:
    """Where and when the login with the new username was seen."""

    source: str  # "broker_log" or "verify"
    at: float
    where: str


def _tail_lines(path: Path) -> list[str]:
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - MAX_LOG_BYTES))
        return fh.read().decode("utf-8", errors="replace").splitlines()


def logins_in_log(path: Path, user: str, since: float) -> float | None:
    """Time of the first accepted login of `user` at or after `since` in one log file."""
    try:
        lines = _tail_lines(path)
    except OSError as exc:
        log.info("cannot read broker log %s: %s", path, exc)
        return None
    for line in lines:
        match = _LOGIN.match(line)
        if match and match.group("user") == user and int(match.group(1)) >= int(since):
            return float(match.group(1))
    return None


def record_seen(dep: Deployment, node: str, user: str, config_hash: str,
                now: float | None = None) -> None:
    """Note that `verify` saw a birth of `node` with the rotated config hash (alias `user`)."""
    path = dep.root / "rotations" / f"{node}.json"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    body = {"node": node, "user": user, "config_hash": config_hash,
            "seen_at": int(time.time() if now is None else now)}
    path.write_text(json.dumps(body, indent=2) + "\n")
    log.info("rotation of %s: birth with config hash %s seen (user %s)", node, config_hash, user)


def _verify_record(dep: Deployment, node: str, user: str, config_hash: str,
                   since: float) -> Evidence | None:
    path = dep.root / "rotations" / f"{node}.json"
    try:
        rec: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if (rec.get("user") == user and rec.get("config_hash") == config_hash
            and float(rec.get("seen_at", 0)) >= since):
        return Evidence("verify", float(rec["seen_at"]), str(path))
    return None


def login_evidence(dep: Deployment, node: str, entry: dict[str, Any]) -> Evidence | None:
    """Proof that the pending alias of `node` has logged in since its rotation began."""
    user = entry.get("pending_user")
    if not user:
        return None
    since = float(entry.get("rotation_started") or 0)
    broker_log = dep.settings.broker_log
    if broker_log:
        for path in (Path(broker_log), Path(f"{broker_log}.1")):
            at = logins_in_log(path, user, since) if path.is_file() else None
            if at is not None:
                return Evidence("broker_log", at, str(path))
    return _verify_record(dep, node, user, str(entry.get("config_hash")), since)


def log_readable(dep: Deployment) -> bool:
    """True if this machine can read the broker's log (then its silence means something)."""
    broker_log = dep.settings.broker_log
    if not broker_log:
        return False
    try:
        with open(broker_log, "rb"):
            return True
    except OSError:
        return False
