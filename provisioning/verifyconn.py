"""verify's MQTT connection: connect as the read-only user, wait with progress, and turn every
connection failure into a cause the technician can act on (broker down, wrong CA or host name,
clock wrong, password wrong, reading refused)."""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from provisioning.verify import Check, Expectation, Progress, Watcher

log = logging.getLogger(__name__)

#: OpenSSL X509 verify codes -> cause codes of the catalogue
_TLS_CAUSES = {9: "c_clock", 10: "c_clock", 18: "c_ca", 19: "c_ca", 20: "c_ca", 21: "c_ca",
               2: "c_ca", 62: "c_hostname", 64: "c_hostname"}
_REFUSED = {134: "c_password", 135: "c_password", 138: "c_banned"}
CONNACK_WAIT_S = 15.0


class VerifyError(RuntimeError):
    """verify could not watch the node: a cause code of the catalogue and its parameters."""

    def __init__(self, code: str, **params: str) -> None:
        super().__init__(f"{code} {params}")
        self.code, self.params = code, params


@dataclass(frozen=True)
class Target:
    """Where and as whom verify connects."""

    url: str
    username: str
    password: str | None
    ca_file: str | None = None
    client_cert: tuple[str, str] | None = None  # (certificate, key) in certificate mode


def classify(exc: BaseException, host: str, port: int) -> VerifyError:
    """A connection exception as a cause (logged in full for -v)."""
    log.info("connection to %s:%s failed: %r", host, port, exc)
    where = {"host": host, "port": str(port)}
    if isinstance(exc, ssl.SSLCertVerificationError):
        code = _TLS_CAUSES.get(exc.verify_code or 0)
        if code is None and "mismatch" in str(exc):
            code = "c_hostname"
        return VerifyError(code or "c_tls", **where)
    if isinstance(exc, ssl.SSLError):
        return VerifyError("c_tls", **where)
    if isinstance(exc, socket.gaierror):
        return VerifyError("c_dns", **where)
    if isinstance(exc, ConnectionRefusedError):
        return VerifyError("c_refused", **where)
    if isinstance(exc, TimeoutError | socket.timeout) or getattr(exc, "errno", None) in (
            errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT):
        return VerifyError("c_unreachable", **where)
    return VerifyError("c_network", **where)


def parse_target_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an mqtt:// or mqtts:// URL; VerifyError c_bad_url otherwise."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
        parts = parts._replace(netloc="")
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise VerifyError("c_bad_url", url=url)
    return parts.scheme, parts.hostname, port or (8883 if parts.scheme == "mqtts" else 1883)


def run_verify(exp: Expectation, target: Target, prefix: str, timeout_s: float,
               on_progress: Callable[[float, Progress], None] | None = None) -> list[Check]:
    """Connect, subscribe, wait up to timeout_s (reporting progress each second); the checklist."""
    scheme, host, port = parse_target_url(target.url)
    parts = urlsplit(target.url)
    user = target.username or (unquote(parts.username) if parts.username else "verifier")
    watcher = Watcher(exp, prefix)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                         client_id=f"kotanet-verify-{exp.node}-{int(time.time())}")
    client.username_pw_set(user, target.password)
    if scheme == "mqtts":
        cert, key = target.client_cert or (None, None)
        client.tls_set(ca_certs=target.ca_file, certfile=cert, keyfile=key,
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)
    connected = threading.Event()
    refused: list[int] = []

    def on_connect(c: mqtt.Client, _u: object, _f: object, reason: mqtt.ReasonCode,
                   _p: object) -> None:
        if reason.is_failure:
            refused.append(reason.value)
        else:
            for topic in watcher.filters():
                c.subscribe(topic, qos=1)
        connected.set()

    def on_subscribe(_c: mqtt.Client, _u: object, _mid: int, codes: list[mqtt.ReasonCode],
                     _p: object) -> None:
        if any(rc.is_failure for rc in codes):
            refused.append(-1)  # reading the node's topics is not allowed for this user
            watcher.changed.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = watcher.on_message
    try:
        client.connect(host, port)
    except (OSError, ssl.SSLError) as exc:
        raise classify(exc, host, port) from None
    client.loop_start()
    try:
        if not connected.wait(min(timeout_s, CONNACK_WAIT_S)) or refused:
            code = _REFUSED.get(refused[0], "c_refused_other") if refused else "c_no_connack"
            raise VerifyError(code, host=host, port=str(port), user=user,
                              reason=str(refused[0]) if refused else "")
        _wait(watcher, timeout_s, refused, user, on_progress)
    finally:
        client.disconnect()
        client.loop_stop()
    return watcher.checklist(timeout_s)


def _wait(watcher: Watcher, timeout_s: float, refused: list[int], user: str,
          on_progress: Callable[[float, Progress], None] | None) -> None:
    start = time.monotonic()
    deadline = start + timeout_s
    next_tick = start
    while not watcher.done() and time.monotonic() < deadline:
        if refused:
            raise VerifyError("c_read_refused", user=user, node=watcher.exp.node)
        now = time.monotonic()
        if on_progress is not None and now >= next_tick:
            on_progress(now - start, watcher.progress())
            next_tick = now + 1.0
        watcher.changed.wait(min(0.5, max(0.0, deadline - time.monotonic())))
        watcher.changed.clear()
