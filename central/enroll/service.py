"""The enrolment decision: a node's one-time token in, its agent.toml and MQTT login out.

Served by central.enroll.api (POST /enroll/v1, no Bearer auth: the signed single-use token is
the credential; rate limited per client IP). The node sends ``{"token", "secret"}``; ``secret``
is a password it generated itself. Central checks signature, expiry, node (known, not revoked)
and single use (``tokens/used.json`` in the deployment directory, bound to a digest of the
secret so only the same node may retry after a lost answer), admits the secret at the broker
(password file + SIGHUP via the pid file; certificate-mode nodes log in with the client
certificate of their bundle instead) and answers ``{"node", "site", "username", "config_hash",
"auth", "files": {"agent.toml", "ca.crt"}, "node_files", "files_hash", "seq_floor",
"session_floor"}``: ``node_files`` is every file of the node's bundle but the build-time
password (provisioning.nodefiles; Wi-Fi passphrase and client key travel only here). The floors
(when central's storage is wired in) say where the node must continue: a re-seeded node starts
from nothing, and central stores idempotently on (node, seq) and guards presence by session, so
seqs or sessions it has seen would be lost.
Errors: ``{"error": code, "message": English, "message_id": Bahasa Indonesia}``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from central.storage.base import NodeFloors
from provisioning.brokerfiles import load_manifest
from provisioning.credentials import CredentialError, admit_enrolled
from provisioning.deployment import Deployment
from provisioning.nodefiles import bundle_hash, delivery
from provisioning.tokens import TokenError, UsedTokens, check_token

log = logging.getLogger(__name__)

#: code -> (HTTP status, English, Bahasa Indonesia). Codes are stable; agents print them.
ERRORS: dict[str, tuple[int, str, str]] = {
    "malformed": (400, "This is not a kotanet enrolment token (damaged or incomplete file).",
                  "Ini bukan token pendaftaran kotanet (berkas rusak atau tidak lengkap)."),
    "bad_request": (400, "The enrolment request is invalid; update kotanet-agent.",
                    "Permintaan pendaftaran tidak valid; perbarui kotanet-agent."),
    "bad_signature": (401, "The token was not signed by this deployment: write a new SD card.",
                      "Token tidak ditandatangani oleh deployment ini: tulis ulang kartu SD."),
    "expired": (410, "The token has expired: write a new SD card (kotanet-provision sdcard).",
                "Token sudah kedaluwarsa: tulis ulang kartu SD (kotanet-provision sdcard)."),
    "already_used": (409, "The token was already used: write a new SD card and tell the NOC.",
                     "Token sudah pernah dipakai: tulis ulang kartu SD dan laporkan ke NOC."),
    "unknown_node": (404, "Central does not know this node: check the inventory and rebuild.",
                     "Node ini tidak dikenal pusat: periksa inventaris lalu build ulang."),
    "revoked": (403, "This node is revoked: ask the NOC to re-admit it (build --readmit).",
                "Node ini dicabut: minta NOC menerimanya kembali (build --readmit)."),
    "unsupported_auth": (409, "This node uses client certificates: install its bundle by hand.",
                         "Node ini memakai sertifikat klien: pasang bundelnya secara manual."),
    "rate_limited": (429, "Too many enrolment attempts from this address; try again later.",
                     "Terlalu banyak percobaan pendaftaran dari alamat ini; coba lagi nanti."),
    "not_configured": (503, "Enrolment is not set up on this central server.",
                       "Pendaftaran belum disiapkan di server pusat ini."),
    "internal": (500, "Central failed while enrolling; try again.",
                 "Server pusat gagal saat pendaftaran; coba lagi."),
}
TOKEN_CODES = {"malformed": "malformed", "bad_signature": "bad_signature",
               "expired": "expired", "reused": "already_used"}


class EnrollError(Exception):
    """A refused enrolment with a stable code from ERRORS."""

    def __init__(self, code: str, node: str | None = None) -> None:
        super().__init__(code)
        self.code, self.node = code, node


FloorsFn = Callable[[str], NodeFloors]


class Enroller:
    """The enrolment decision and its side effects on one deployment directory.

    ``floors`` (node -> NodeFloors, e.g. ``Storage.node_floors``) adds ``seq_floor`` and
    ``session_floor`` to the answer; without it they are left out (older answers).
    """

    def __init__(self, deployment: str | Path, pid_file: str | None = None,
                 now: Callable[[], float] = time.time, floors: FloorsFn | None = None) -> None:
        self.dep = Deployment(deployment)
        self.pid_file, self.now, self.floors = pid_file, now, floors
        self._lock = threading.Lock()

    def _floors(self, node: str) -> dict[str, int]:
        """The answer's floor fields; a storage failure refuses as 'internal' (retry)."""
        if self.floors is None:
            return {}
        try:
            f = self.floors(node)
        except Exception:
            log.exception("cannot read the stored seq/session of node %s", node)
            raise EnrollError("internal", node) from None
        return {"seq_floor": f.seq_floor, "session_floor": f.session_floor}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.dep.used_tokens.with_name("enroll.lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
        with self._lock, os.fdopen(fd, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    def enroll(self, token: str, secret: str) -> dict[str, Any]:
        """Verify the token, admit the node's secret, return the answer (EnrollError if refused)."""
        try:
            claims = check_token(self.dep.read("signing.pub"), token, self.now())
        except TokenError as exc:
            raise EnrollError(TOKEN_CODES.get(exc.reason, "malformed")) from None
        node = str(claims["node"])
        bind = hashlib.sha256(f"kotanet-enroll:{secret}".encode()).hexdigest()
        with self._locked():
            entry = load_manifest(self.dep).get("nodes", {}).get(node)
            if entry is None or entry.get("site") != claims.get("site"):
                raise EnrollError("unknown_node", node)
            if entry.get("revoked"):
                raise EnrollError("revoked", node)
            floors = self._floors(node)  # before anything is consumed: a failure may retry
            try:
                fresh = UsedTokens(self.dep.used_tokens).consume_bound(claims, bind, self.now())
            except TokenError:
                raise EnrollError("already_used", node) from None
            cert = entry.get("auth") == "cert"
            if cert:  # the certificate's CN is the login: nothing to admit at the broker
                user, note = str(entry.get("user") or node), "certificate"
            else:
                try:
                    user, note = admit_enrolled(self.dep, node, secret, self.pid_file)
                except CredentialError:
                    raise EnrollError("revoked", node) from None
            entry = load_manifest(self.dep)["nodes"][node]
        bundle = Path(entry["bundle"])
        etc = bundle / "etc/kotanet"
        log.info("node %s enrolled (%s; broker %s; floors %s)", node,
                 "new" if fresh else "retry", note, floors or "not wired")
        return {"node": node, "site": entry["site"], "username": user,
                "config_hash": entry["config_hash"], "auth": "cert" if cert else "password",
                "files": {"agent.toml": (etc / "agent.toml").read_text(),
                          "ca.crt": (etc / "ca.crt").read_text()},
                "node_files": delivery(bundle), "files_hash": bundle_hash(bundle), **floors}
