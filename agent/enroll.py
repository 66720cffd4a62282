"""kotanet-agent enroll: exchange the SD card's one-time token for this node's credentials.

The node generates its own MQTT password (kept in OUT/.enroll-secret until done, so a retry
after a lost answer is accepted by central), POSTs ``{"token", "secret"}`` to central's
``/enroll/v1`` over HTTPS, writes agent.toml, ca.crt and mqtt-password atomically (mode 0600)
and deletes every copy of the token. The token and the password are never printed or logged.

A re-seeded node (wiped or replaced SD card) has lost its seq and session counters; central's
answer says where to continue (``seq_floor``, ``session_floor``, optional) and they are raised
(never lowered) in ``[agent] state_dir`` before agent.toml is written, so an agent can never run
with the delivered config but below the floors.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import re
import secrets
import ssl
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent import __version__
from agent.config import ConfigError, parse_config
from agent.nodeapply import (
    ApplyError,
    NodeFile,
    apply_files,
    gid_of,
    parse_files,
    run_plan,
    service_plan,
    write_if_changed,
)
from agent.transport.statefile import DurableCounter, SeqFloor, fsync_dir

log = logging.getLogger(__name__)

DEFAULT_TOKEN_FILES = ("/etc/kotanet/seed/enroll.token", "/etc/kotanet/enroll.token", "/boot/firmware/kotanet/enroll.token",
                       "/boot/firmware/kotanet-enroll.token")
ENROLL_PATH = "/enroll/v1"
SECRET_FILE = ".enroll-secret"
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{32,128}")  # what central accepts

#: Errors found on the node itself: code -> (English, Bahasa Indonesia).
LOCAL: dict[str, tuple[str, str]] = {
    "no_token": ("No enrolment token found (looked at: {where}).",
                 "Token pendaftaran tidak ditemukan (dicari di: {where})."),
    "no_central": ("Central's enrolment URL is unknown: pass --central https://HOST.",
                   "URL pendaftaran pusat tidak diketahui: beri --central https://HOST."),
    "insecure_url": ("Enrolment needs an https:// URL, got {where}.",
                     "Pendaftaran memerlukan URL https://, bukan {where}."),
    "unreachable": ("Cannot reach central at {where}: check the uplink and the clock.",
                    "Tidak dapat menghubungi pusat di {where}: periksa uplink dan jam."),
    "bad_response": ("Central's answer is unusable: {where}.",
                     "Jawaban pusat tidak dapat dipakai: {where}."),
}
TRANSIENT = {"unreachable", "rate_limited", "internal", "not_configured"}


class EnrollFailure(Exception):
    """Enrolment did not succeed: a stable code plus English and Indonesian messages."""

    def __init__(self, code: str, message: str, message_id: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.message_id = code, message, message_id

    @classmethod
    def local(cls, code: str, where: str = "") -> EnrollFailure:
        """A failure detected on the node."""
        en, id_ = LOCAL[code]
        return cls(code, en.format(where=where), id_.format(where=where))


@dataclass(frozen=True)
class Enrolled:
    """What a successful enrolment installed."""

    node: str
    username: str
    config_hash: str
    out: Path
    seq_floor: int | None = None  # as central answered (None: an older central)
    session_floor: int | None = None
    auth: str = "password"  # or "cert": the node logs in with its client certificate
    files_hash: str | None = None  # of the node files applied (None: an older central)
    files_total: int = 0
    changed: tuple[str, ...] = ()  # node files whose content was written
    failed_services: tuple[str, ...] = ()


def atomic_write(path: Path, data: str, mode: int = 0o600) -> None:
    """Write via a temporary file in the same directory, fsync, rename (never half a file)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def find_token(candidates: list[Path]) -> Path:
    """The first existing token file."""
    for p in candidates:
        if p.is_file() and p.read_text(encoding="utf-8", errors="replace").strip():
            return p
    raise EnrollFailure.local("no_token", ", ".join(str(p) for p in candidates))


def enroll_url(central: str | None, token_file: Path) -> str:
    """--central (a base URL gets /enroll/v1 appended), else enroll_url from enroll.json."""
    if not central:
        meta = token_file.with_name("enroll.json")
        try:
            central = str(json.loads(meta.read_text())["enroll_url"])
        except (OSError, ValueError, KeyError, TypeError):
            raise EnrollFailure.local("no_central") from None
    parts = urlsplit(central)
    if parts.scheme != "https" or not parts.hostname:
        raise EnrollFailure.local("insecure_url", central)
    return central.rstrip("/") + ENROLL_PATH if parts.path in ("", "/") else central


def _secret(out: Path) -> str:
    """The pending secret, else the node's current password (a re-run of the same card is
    then the same request to central, answered again), else a fresh one."""
    for path in (out / SECRET_FILE, out / "mqtt-password"):
        kept = path.read_text().strip() if path.is_file() else ""
        if SECRET_RE.fullmatch(kept):
            return kept
    path = out / SECRET_FILE
    fresh = secrets.token_urlsafe(32)
    atomic_write(path, fresh + "\n")
    return fresh


def _post(url: str, body: bytes, ctx: ssl.SSLContext, timeout: float) -> dict[str, Any]:
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": f"kotanet-agent/{__version__}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
            data = json.loads(resp.read(1 << 20))
    except urllib.error.HTTPError as exc:
        try:
            err = json.loads(exc.read(1 << 16))
            raise EnrollFailure(str(err["error"]), str(err["message"]),
                                str(err.get("message_id") or err["message"])) from None
        except (ValueError, KeyError, TypeError):
            raise EnrollFailure.local("bad_response", f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EnrollFailure.local("unreachable", f"{url} ({reason})") from None
    except ValueError:
        raise EnrollFailure.local("bad_response", "not JSON") from None
    if not isinstance(data, dict):
        raise EnrollFailure.local("bad_response", "not a JSON object")
    return data


def _floor(answer: dict[str, Any], key: str) -> int | None:
    value = answer.get(key)
    if value is None:
        return None  # an older central: nothing to raise
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise EnrollFailure.local("bad_response", f"{key} is not a seq")
    return value


def install_floors(state_dir: Path, seq_floor: int | None, session_floor: int | None) -> None:
    """Raise the outbox seq floor and the session counter to central's floors, never lower.

    The next seq is at least ``seq_floor`` (honoured by a new outbox) and the next session at
    least ``session_floor`` (the counter file holds the last session used).
    """
    from agent.runtime import OUTBOX_FILE  # the agent's own file names, not copies
    from agent.transport.session import SESSION_FILE

    if not seq_floor and not session_floor:
        return
    state_dir.mkdir(parents=True, exist_ok=True)
    if seq_floor:
        floor = SeqFloor(state_dir / f"{OUTBOX_FILE}.seqfloor")
        if floor.raise_to(seq_floor):
            log.info("seq floor raised to %d (central's stored records)", seq_floor)
        else:
            log.info("seq floor kept at %d (central: %d)", floor.value, seq_floor)
    if session_floor:
        path = state_dir / SESSION_FILE
        try:
            counter = DurableCounter(path)
        except ValueError as exc:  # a counter nobody can read: central's floor is safe
            log.warning("%s: replaced by central's session floor", exc)
            path.unlink()
            counter = DurableCounter(path)
        if counter.raise_to(session_floor - 1):  # next CONNECT uses session_floor
            log.info("session counter raised: next session %d", session_floor)
        else:
            log.info("session counter kept at %d (central: next %d)", counter.value,
                     session_floor)


def _write(path: Path, text: str, mode: int) -> None:
    """Write only if the content differs (mtime kept on a re-run); group kotanet if it exists."""
    write_if_changed(path, text.encode(), mode, gid_of("kotanet"))


def _install(answer: dict[str, Any], out: Path, secret: str, node_hint: str | None,
             state_dir: Path | None = None) -> tuple[Enrolled, list[NodeFile]]:
    try:
        files = answer["files"]
        toml_text, ca = str(files["agent.toml"]), str(files["ca.crt"])
        cfg = parse_config(tomllib.loads(toml_text), "agent.toml from central")
        username = str(answer["username"])
        node_files = parse_files(answer["node_files"]) if "node_files" in answer else []
    except (KeyError, TypeError, tomllib.TOMLDecodeError, ConfigError) as exc:
        raise EnrollFailure.local("bad_response", type(exc).__name__) from None
    except ApplyError as exc:
        raise EnrollFailure.local("bad_response", str(exc)) from None
    if node_hint and cfg.node.id != node_hint:
        raise EnrollFailure.local("bad_response", f"config is for node {cfg.node.id}")
    seq_floor, session_floor = _floor(answer, "seq_floor"), _floor(answer, "session_floor")
    # first: whenever agent.toml exists, the floors are already on disk
    install_floors(state_dir or Path(cfg.agent.state_dir), seq_floor, session_floor)
    _write(out / "ca.crt", ca, 0o640)
    if answer.get("auth") != "cert":  # a certificate-mode node logs in with its client cert
        _write(out / "mqtt-password", secret + "\n", 0o640)
    _write(out / "agent.toml", toml_text, 0o640)
    fsync_dir(out)
    return Enrolled(cfg.node.id, username, cfg.config_hash(), out, seq_floor, session_floor,
                    auth="cert" if answer.get("auth") == "cert" else "password"), node_files


def token_node(token: str) -> str | None:
    """The node id in a token's claims (unverified: for messages and a sanity check only)."""
    try:
        body = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        return str(claims["node"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def enroll(token_files: list[Path], out: Path, central: str | None = None,
           ca: str | None = None, attempts: int = 30, timeout: float = 20.0,
           sleep: Callable[[float], None] = time.sleep, state_dir: Path | None = None,
           root: Path | None = None, services: bool = False) -> Enrolled:
    """Run the whole exchange; retries (bounded) only on transient failures.

    ``state_dir`` overrides the delivered agent.toml's ``[agent] state_dir`` for the floors.
    The answer's node files (hostapd, dnsmasq, ...) are written under ``root`` (None: not
    written); with ``services`` their units are then enabled and started in order."""
    token_file = find_token(token_files)
    token = token_file.read_text(encoding="utf-8").strip()
    url = enroll_url(central, token_file)
    node = token_node(token)
    ca = ca or next((str(p) for p in (token_file.with_name("ca.crt"), out / "ca.crt")
                     if p.is_file()), None)
    ctx = ssl.create_default_context(cafile=ca)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = _secret(out)
    body = json.dumps({"token": token, "secret": secret, "agent_version": __version__}).encode()
    for attempt in range(1, max(1, attempts) + 1):
        try:
            answer = _post(url, body, ctx, timeout)
            break
        except EnrollFailure as exc:
            if exc.code not in TRANSIENT or attempt >= attempts:
                raise
            log.warning("enrolment attempt %d/%d failed (%s); retrying", attempt, attempts,
                        exc.code)
            sleep(min(60.0, 2.0 ** attempt))
    done, node_files = _install(answer, out, secret, node, state_dir)
    if root is not None and node_files:
        changed = apply_files(root, node_files)
        failed = run_plan(service_plan(node_files, changed)) if services else []
        done = dataclasses.replace(done, files_hash=str(answer.get("files_hash") or ""),
                                   files_total=len(node_files), changed=tuple(changed),
                                   failed_services=tuple(failed))
    for p in {token_file, *token_files}:
        if p.is_file():
            p.unlink()
            fsync_dir(p.parent)
    if done.auth != "cert":  # it is now mqtt-password; a cert node keeps it to re-run a card
        (out / SECRET_FILE).unlink(missing_ok=True)
    log.info("node %s enrolled; config hash %s", done.node, done.config_hash)
    return done
