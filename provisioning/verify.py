"""Watch a node over MQTT until it proves it is set up right; produce a checklist.

Every item says what was expected, what arrived (the config hash the node really sent) and,
when it fails, which hint applies; "no telemetry yet" is its own item, and the items that need
telemetry (uplinks, user count) are then "not checked", never failed.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from protocol.codec import CodecError, decode_as
from protocol.messages import Birth, NodeState, Tele
from protocol.topics import Topics

log = logging.getLogger(__name__)

OK, FAIL, WARN, SKIP, INFO = "ok", "fail", "warn", "skip", "info"


@dataclass
class Check:
    """One checklist item; `key`/`params` and `hint`/`hint_params` index the catalogue."""

    key: str
    status: str
    required: bool
    params: dict[str, str] = field(default_factory=dict)
    hint: str | None = None
    hint_params: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True unless the item failed."""
        return self.status != FAIL


@dataclass
class Expectation:
    """What the manifest says the node must report."""

    node: str
    site: str
    config_hash: str
    uplinks: list[str]
    ifaces: dict[str, str] = field(default_factory=dict)  # uplink name -> interface
    previous_hash: str | None = None  # before a pending rotation
    files_hash: str | None = None  # the bundle's node files (provisioning.nodefiles)


@dataclass(frozen=True)
class Progress:
    """What has arrived so far (for the progress line while waiting)."""

    online: bool | None
    birth_hash: str | None
    matched: bool
    tele: bool


class Watcher:
    """Collects the node's retained state, its births and its telemetry."""

    def __init__(self, exp: Expectation, prefix: str) -> None:
        self.exp = exp
        self.topics = Topics(prefix)
        self.lock = threading.Lock()
        self.changed = threading.Event()
        self.online: bool | None = None  # None: no retained state at all
        self.birth: Birth | None = None  # the matching birth, else the last one
        self.tele: Tele | None = None  # the last telemetry with samples
        self.tele_after_match = False
        self.bad_payloads = 0

    def filters(self) -> list[str]:
        """The three topics to subscribe to."""
        return [self.topics.node(self.exp.site, self.exp.node, k) for k in ("state", "birth", "tele")]

    def on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        """Record what arrived (a bad payload is counted and logged, never fatal)."""
        kind = msg.topic.rsplit("/", 1)[-1]
        try:
            with self.lock:
                if kind == "state":
                    self.online = decode_as(NodeState, bytes(msg.payload)).online
                elif kind == "birth":
                    self._on_birth(decode_as(Birth, bytes(msg.payload)))
                elif kind == "tele":
                    tele = decode_as(Tele, bytes(msg.payload))
                    if tele.samples:
                        self.tele = tele
                        self.tele_after_match = self.tele_after_match or self._matched()
        except CodecError as exc:
            self.bad_payloads += 1
            log.info("ignoring bad %s payload from %s: %s", kind, self.exp.node, exc)
        self.changed.set()

    def _matched(self) -> bool:
        return self.birth is not None and self.birth.config_hash == self.exp.config_hash

    def _on_birth(self, birth: Birth) -> None:
        if not self._matched():
            self.birth = birth
            self.tele_after_match = False

    def progress(self) -> Progress:
        """A snapshot for the progress line."""
        with self.lock:
            return Progress(self.online, self.birth.config_hash if self.birth else None,
                            self._matched(), self.tele is not None)

    def done(self) -> bool:
        """True once everything needed for the checklist has arrived."""
        with self.lock:
            return bool(self.online and self._matched() and self.tele_after_match)

    def checklist(self, timeout_s: float) -> list[Check]:
        """Evaluate the checklist from what has arrived so far."""
        with self.lock:
            return [self._online(), self._hash(), *self._files(), *self._tele_checks(timeout_s),
                    self._clock(),
                    *([Check("chk_bad_payloads", WARN, False, {"count": str(self.bad_payloads)},
                             "hint_bad_payloads")] if self.bad_payloads else [])]

    def _online(self) -> Check:
        if self.online:
            return Check("chk_online", OK, True)
        if self.online is False:
            return Check("chk_online_offline", FAIL, True, {}, "hint_offline")
        return Check("chk_online_none", FAIL, True, {}, "hint_never_seen", {"node": self.exp.node})

    def _hash(self) -> Check:
        exp, b = self.exp, self.birth
        params = {"expected": exp.config_hash, "got": b.config_hash if b else "-"}
        if b is not None and b.config_hash == exp.config_hash:
            return Check("chk_hash", OK, True, params)
        if b is None:
            return Check("chk_hash_none", FAIL, True, params, "hint_no_birth")
        hint = "hint_old_rotation" if b.config_hash == exp.previous_hash else "hint_wrong_hash"
        return Check("chk_hash", FAIL, True, params, hint, {"node": exp.node})

    def _files(self) -> list[Check]:
        """The node files the node applied at enrolment against the bundle's (when known)."""
        exp, b = self.exp, self.birth
        if not exp.files_hash or b is None:
            return []
        params = {"expected": exp.files_hash[:12], "got": (b.files_hash or "-")[:12]}
        if b.files_hash is None:
            return [Check("chk_files_none", INFO, False, params)]
        if b.files_hash == exp.files_hash:
            return [Check("chk_files", OK, True, params)]
        return [Check("chk_files", FAIL, True, params, "hint_files", {"node": exp.node})]

    def _tele_checks(self, timeout_s: float) -> list[Check]:
        t = self.tele
        if t is None:
            return [Check("chk_tele_none", FAIL, True, {"timeout": f"{timeout_s:g}"},
                          "hint_no_tele", {"more": f"{max(180.0, 2 * timeout_s):g}"}),
                    Check("chk_uplinks_skip", SKIP, True), Check("chk_users_skip", SKIP, True)]
        probed: set[str] = set()
        users_found = False
        shaping = None
        for s in t.samples:
            probed |= {u["name"] for u in s.uplinks if u["up"] is not None}
            users_found = users_found or any(
                v is not None for v in (s.users.associated, s.users.authenticated,
                                        s.users.leases, s.users.total))
            shaping = s.shaping or shaping
        missing = [u for u in self.exp.uplinks if u not in probed]
        names = ", ".join(self.exp.uplinks)
        checks = [Check("chk_tele", OK, True)]
        if missing:
            ifaces = ", ".join(f"{u} ({self.exp.ifaces.get(u, '?')})" for u in missing)
            checks.append(Check("chk_uplinks_missing", FAIL, True,
                                {"names": names, "missing": ", ".join(missing)},
                                "hint_uplink_iface", {"ifaces": ifaces}))
        else:
            checks.append(Check("chk_uplinks", OK, True, {"names": names}))
        checks.append(Check("chk_users", OK if users_found else FAIL, True, {},
                            None if users_found else "hint_users"))
        if shaping:
            checks.append(Check("chk_throttle", INFO, False, {
                "state": f"v{shaping.version} {shaping.down_kbps}/{shaping.up_kbps} kbps"}))
        else:
            checks.append(Check("chk_throttle_none", INFO, False))
        return checks

    def _clock(self) -> Check:
        b = self.birth
        if b is None:
            return Check("chk_clock_skip", SKIP, False)
        if b.clock.synced:
            return Check("chk_clock", OK, False)
        return Check("chk_clock", WARN, False, {}, "hint_clock")
