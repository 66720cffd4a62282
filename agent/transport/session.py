"""The agent's MQTT 5 session: connect, Will, reconnect with backoff, clean shutdown.

Paho runs its network loop in its own thread (``loop_start``). Callbacks never block and
never raise: they decode and hand events to ``sink`` (the agent loop's queue).
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel

from agent.clock import Clock, monotonic
from agent.config import AgentConfig
from agent.transport.presence import node_state
from agent.transport.statefile import DurableCounter
from agent.transport.url import BrokerTarget
from protocol.codec import CodecError, TopicMismatch, decode, decode_as, encode
from protocol.messages import Command
from protocol.topics import NodeKind, Topics

log = logging.getLogger(__name__)

#: Added to the log line when the broker refuses our credentials (MQTT 5 reason 134 or 135).
AUTH_REFUSED_HINT = (" (credentials refused: the node may be revoked, or its password was rotated"
                     " and the new bundle not installed; see docs/field-guide.md section 7. "
                     "Retrying with backoff)")

SESSION_FILE = "session"


@dataclass(frozen=True)
class Connected:
    """The broker accepted CONNECT for this session number."""

    session: int


@dataclass(frozen=True)
class Disconnected:
    """The connection was lost or refused."""

    reason: str


@dataclass(frozen=True)
class InboundMessage:
    """A decoded message for this node (cmd, rx) or a central state."""

    model: BaseModel
    received: float  # monotonic time at receipt
    expiry_s: float | None  # remaining MQTT message expiry, if the broker sent one
    raw: bytes | None = None  # the payload as received (commands are verified over it)


@dataclass(frozen=True)
class PubAck:
    """The broker answered a QoS 1 publish (reason 0 ok, 16 no matching subscribers)."""

    mid: int
    reason: int


SessionEvent = Connected | Disconnected | InboundMessage | PubAck


class MqttSession:
    """One node's MQTT 5 connection; the session counter is bumped before every CONNECT."""

    def __init__(self, cfg: AgentConfig, target: BrokerTarget, sink: Callable[[SessionEvent], None],
                 clock: Clock = monotonic) -> None:
        self.cfg = cfg
        self.target = target
        self.topics = Topics(cfg.mqtt.topic_prefix)
        self._sink = sink
        self._clock = clock
        self._counter = DurableCounter(Path(cfg.agent.state_dir) / SESSION_FILE)
        self.session = self._counter.value
        self.connected = threading.Event()
        self._attempts = 0
        self._stopping = False
        self.client = self._make_client()

    def topic(self, kind: NodeKind) -> str:
        """This node's topic of one kind."""
        return self.topics.node(self.cfg.node.site, self.cfg.node.id, kind)

    def _make_client(self) -> mqtt.Client:
        t = self.target
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"kotanet-{self.cfg.node.id}",
                        protocol=mqtt.MQTTv5)
        c.username_pw_set(t.username, t.password)
        if t.tls:
            c.tls_set(ca_certs=t.ca_file, certfile=t.cert_file, keyfile=t.key_file)
        lo, hi = self.cfg.mqtt.reconnect_min_s, self.cfg.mqtt.reconnect_max_s
        c.reconnect_delay_set(lo, max(lo, hi))  # type: ignore[arg-type]  # floats work
        c.max_inflight_messages_set(self.cfg.outbox.window + 10)
        c.suppress_exceptions = True
        c.on_pre_connect = self._on_pre_connect
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        return c

    def start(self) -> None:
        """Connect in the background; paho reconnects by itself with backoff."""
        self.client.connect_async(self.target.host, self.target.port,
                                  keepalive=self.cfg.mqtt.keepalive_s, clean_start=True)
        self.client.loop_start()

    # ------------------------------------------------------------ paho callbacks (paho thread)
    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        self._attempts += 1
        if self._attempts > 1 and not self._stopping:  # spread reconnects of many nodes
            time.sleep(random.uniform(0, min(1.0, self.cfg.mqtt.reconnect_min_s)))
        self.session = self._counter.next()
        will = encode(node_state(self.cfg, self.session, online=False))
        client.will_set(self.topic("state"), will, qos=1, retain=True)
        log.debug("connecting to %s as session %d", self.target, self.session)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                    props: Properties | None) -> None:
        if reason.is_failure:
            hint = AUTH_REFUSED_HINT if reason.value in (134, 135) else ""
            log.warning("broker %s refused session %d: %s%s", self.target, self.session, reason,
                        hint)
            return
        log.info("connected to %s, session %d", self.target, self.session)
        sock = client.socket()
        if sock is not None:  # small latency-bound packets: no Nagle delay
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr,attr-defined]
            except (OSError, AttributeError):
                pass
        client.subscribe([(self.topic("cmd"), 1), (self.topic("rx"), 1),
                          (self.topics.all_central_states(), 1)])
        self.connected.set()
        self._sink(Connected(self.session))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int,
                      reasons: list[ReasonCode], props: Properties | None) -> None:
        bad = [str(r) for r in reasons if r.is_failure]
        if bad:
            log.error("broker refused subscriptions (check the ACL for %s): %s",
                      self.target.username, ", ".join(bad))

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        log.warning("cannot reach broker %s (session %d)", self.target, self.session)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                       props: Properties | None) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if was and not self._stopping:
            log.warning("disconnected from %s: %s", self.target, reason)
        self._sink(Disconnected(str(reason)))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        now = self._clock()
        try:
            _, model = decode(self.topics, msg.topic, bytes(msg.payload))
        except TopicMismatch as exc:
            misaddressed = self._misaddressed_command(msg.topic, bytes(msg.payload))
            if misaddressed is None:
                log.warning("dropping message on %s: %s", msg.topic, exc)
                return
            model = misaddressed
        except CodecError as exc:
            log.warning("dropping message on %s: %s", msg.topic, exc)
            return
        expiry = getattr(msg.properties, "MessageExpiryInterval", None) if msg.properties else None
        self._sink(InboundMessage(model, now, float(expiry) if expiry is not None else None,
                                  bytes(msg.payload)))

    def _misaddressed_command(self, topic: str, payload: bytes) -> Command | None:
        """A valid command on our cmd topic naming another node: the gate answers it
        (``wrong_node``) so central sees why; anything else is dropped."""
        if topic != self.topic("cmd"):
            return None
        try:
            return decode_as(Command, payload)
        except CodecError:
            return None

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode,
                    props: Properties | None) -> None:
        self._sink(PubAck(mid, int(reason.value)))

    # ------------------------------------------------------------ publishing (any thread)
    def publish(self, kind: NodeKind, msg: BaseModel, *, retain: bool = False) -> mqtt.MQTTMessageInfo:
        """Publish a model QoS 1 on this node's topic; returns paho's info (mid).

        If paho answers "not connected" it has queued the message and sends it on reconnect:
        the caller must not publish it again.
        """
        info = self.client.publish(self.topic(kind), encode(msg), qos=1, retain=retain)
        if info.rc == mqtt.MQTT_ERR_NO_CONN:
            log.debug("%s mid %d queued by paho until reconnect", kind, info.mid)
        elif info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publish %s failed: %s", kind, mqtt.error_string(info.rc))
        return info

    def publish_online(self) -> None:
        """Retained state{online:true, session}."""
        self.publish("state", node_state(self.cfg, self.session, online=True), retain=True)

    def reconnect_now(self) -> None:
        """Drop the TCP connection so paho reconnects at once (after an uplink switch)."""
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr,attr-defined]
            except OSError:
                pass

    def stop(self, timeout_s: float = 3.0) -> None:
        """Clean shutdown: retained offline state, wait for its PUBACK, DISCONNECT (no Will)."""
        self._stopping = True
        if self.connected.is_set():
            info = self.publish("state", node_state(self.cfg, self.session, online=False),
                                retain=True)
            try:
                info.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError) as exc:
                log.warning("offline state not confirmed: %s", exc)
            if not info.is_published():
                log.warning("offline state not acknowledged within %.1fs", timeout_s)
        self.client.disconnect(reasoncode=ReasonCode(PacketTypes.DISCONNECT, "Normal disconnection"))
        self.client.loop_stop()
        self.connected.clear()
