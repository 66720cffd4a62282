"""Turn one raw MQTT message into an Incoming record, or a counted, logged rejection."""

from __future__ import annotations

from dataclasses import dataclass

from central.collector.stats import Stats
from central.config import CentralConfig
from central.storage.base import Incoming
from protocol.codec import CodecError, PayloadTooLarge, decode
from protocol.messages import Birth, CommandAck, NodeState, Tele
from protocol.topics import NodeTopic, TopicError, Topics


@dataclass(frozen=True)
class Rejected:
    """Why a message was not stored (reason is a short stable counter label)."""

    reason: str
    node: str
    detail: str


class Ingest:
    """Validates messages against the protocol and the node registry."""

    def __init__(self, cfg: CentralConfig, stats: Stats) -> None:
        self.topics = Topics(cfg.topic_prefix)
        self.registry = {n.node: n for n in cfg.nodes}
        self.strict = cfg.strict_registry
        self.max_bytes = cfg.max_payload_bytes
        self.stats = stats

    def _node_of(self, topic: str) -> str:
        try:
            parsed = self.topics.parse(topic)
        except TopicError:
            return "?"
        return parsed.node if isinstance(parsed, NodeTopic) else "?"

    def classify(self, topic: str, payload: bytes, received_ms: int) -> Incoming | Rejected:
        """Decode and check one message; never raises for bad input."""
        try:
            if len(payload) > self.max_bytes:
                raise PayloadTooLarge(f"payload of {len(payload)} bytes exceeds {self.max_bytes}")
            parsed, msg = decode(self.topics, topic, payload)
        except CodecError as exc:
            return Rejected(exc.reason, self._node_of(topic), exc.message)
        if not isinstance(parsed, NodeTopic) or not isinstance(
                msg, Birth | Tele | NodeState | CommandAck):
            return Rejected("wrong_topic", "?", f"not a node uplink topic: {topic!r}")
        known = self.registry.get(parsed.node)
        if known is None and self.strict:
            return Rejected("unregistered", parsed.node,
                            "node not in registry and strict_registry = true")
        if known is not None and known.site != parsed.site:
            return Rejected("site_mismatch", parsed.node,
                            f"registry says site {known.site!r}, topic says {parsed.site!r}")
        return Incoming(site=parsed.site, node=parsed.node, msg=msg, received_ms=received_ms,
                        unregistered=known is None)

    def accept(self, topic: str, payload: bytes, received_ms: int) -> Incoming | None:
        """classify() plus counting: returns the Incoming, or None after counting the reject."""
        res = self.classify(topic, payload, received_ms)
        if isinstance(res, Rejected):
            self.stats.reject(res.reason, res.node, res.detail)
            return None
        self.stats.message(res.msg.KIND)
        return res
