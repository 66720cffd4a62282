"""Watch a node over MQTT until it proves it is set up right; produce a checklist."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.codec import CodecError, decode_as
from protocol.messages import Birth, NodeState, Tele
from protocol.topics import Topics

log = logging.getLogger(__name__)


@dataclass
class Check:
    """One checklist item; `key` and `params` index the message catalogue."""

    key: str
    ok: bool
    required: bool
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Expectation:
    """What the manifest says the node must report."""

    node: str
    site: str
    config_hash: str
    uplinks: list[str]


class VerifyError(RuntimeError):
    """Could not connect or subscribe."""


class Watcher:
    """Collects the node's retained state, its birth and the first telemetry after it."""

    def __init__(self, exp: Expectation, prefix: str) -> None:
        self.exp = exp
        self.topics = Topics(prefix)
        self.lock = threading.Lock()
        self.changed = threading.Event()
        self.online: bool | None = None
        self.birth: Birth | None = None
        self.tele: Tele | None = None

    def filters(self) -> list[str]:
        """The three topics to subscribe to."""
        return [self.topics.node(self.exp.site, self.exp.node, k) for k in ("state", "birth", "tele")]

    def on_message(self, _c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        """Record what arrived (a bad payload is logged, never fatal)."""
        kind = msg.topic.rsplit("/", 1)[-1]
        try:
            with self.lock:
                if kind == "state":
                    self.online = decode_as(NodeState, bytes(msg.payload)).online
                elif kind == "birth":
                    birth = decode_as(Birth, bytes(msg.payload))
                    if self.birth is None or birth.config_hash == self.exp.config_hash:
                        self.birth, self.tele = birth, None
                elif kind == "tele" and self.birth is not None and self.tele is None:
                    tele = decode_as(Tele, bytes(msg.payload))
                    if tele.samples:
                        self.tele = tele
        except CodecError as exc:
            log.warning("ignoring bad %s payload from %s: %s", kind, self.exp.node, exc)
        self.changed.set()

    def done(self) -> bool:
        """True once everything needed for the checklist has arrived."""
        with self.lock:
            return bool(self.online and self.birth is not None
                        and self.birth.config_hash == self.exp.config_hash
                        and self.tele is not None)

    def checklist(self) -> list[Check]:
        """Evaluate the checklist from what has arrived so far."""
        with self.lock:
            b, t = self.birth, self.tele
            probed: set[str] = set()
            users_found = False
            shaping = None
            for s in t.samples if t else []:
                probed |= {u.name for u in s.uplinks if u.up is not None}
                users_found = users_found or any(
                    v is not None for v in (s.users.associated, s.users.authenticated,
                                            s.users.leases, s.users.total))
                shaping = s.shaping or shaping
            missing = [u for u in self.exp.uplinks if u not in probed]
            throttle = (f"v{shaping.version} {shaping.down_kbps}/{shaping.up_kbps} kbps"
                        if shaping else "")
            return [
                Check("chk_online", bool(self.online), True),
                Check("chk_hash", b is not None and b.config_hash == self.exp.config_hash, True,
                      {"expected": self.exp.config_hash}),
                Check("chk_uplinks", t is not None and not missing, True,
                      {"names": ", ".join(self.exp.uplinks)}),
                Check("chk_users", users_found, True),
                Check("chk_clock", b is not None and b.clock.synced, False),
                Check("chk_throttle", t is not None, False, {"state": throttle}),
            ]


def run_verify(exp: Expectation, url: str, prefix: str, timeout_s: float, *,
               username: str | None = None, password: str | None = None,
               ca_file: str | None = None, cert_file: str | None = None,
               key_file: str | None = None) -> list[Check]:
    """Connect, subscribe, wait up to timeout_s, and return the checklist."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise VerifyError(f"bad broker URL {url!r}: use mqtt://host:port or mqtts://host:port")
    user = username or (unquote(parts.username) if parts.username else "verifier")
    pw = password if password is not None else (unquote(parts.password) if parts.password else None)
    watcher = Watcher(exp, prefix)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                         client_id=f"kotanet-verify-{exp.node}-{int(time.time())}")
    client.username_pw_set(user, pw)
    if parts.scheme == "mqtts":
        client.tls_set(ca_certs=ca_file, certfile=cert_file, keyfile=key_file,
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(c: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode,
                   _p: object) -> None:
        if reason.is_failure:
            refused.append(str(reason))
        else:
            for topic in watcher.filters():
                c.subscribe(topic, qos=1)
        connected.set()

    client.on_connect = on_connect
    client.on_message = watcher.on_message
    try:
        client.connect(parts.hostname, parts.port or (8883 if parts.scheme == "mqtts" else 1883))
    except (OSError, ssl.SSLError) as exc:
        raise VerifyError(str(exc)) from None
    client.loop_start()
    try:
        deadline = time.monotonic() + timeout_s
        if not connected.wait(min(timeout_s, 15.0)) or refused:
            raise VerifyError(refused[0] if refused else "no CONNACK from the broker")
        while not watcher.done() and time.monotonic() < deadline:
            watcher.changed.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            watcher.changed.clear()
    finally:
        client.disconnect()
        client.loop_stop()
    return watcher.checklist()
