"""The only place where MQTT topic strings are built and parsed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

DEFAULT_PREFIX = "kotanet/v1"
SHARE_GROUP = "collectors"

NodeKind = Literal["birth", "tele", "state", "ack", "cmd", "rx"]
NODE_KINDS: tuple[NodeKind, ...] = ("birth", "tele", "state", "ack", "cmd", "rx")
#: Topics a node publishes on (what central collects).
UPLINK_KINDS: tuple[NodeKind, ...] = ("birth", "tele", "state", "ack")
#: Topics central publishes to a node.
DOWNLINK_KINDS: tuple[NodeKind, ...] = ("cmd", "rx")

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class TopicError(ValueError):
    """A topic or identifier that does not fit protocol v1."""


def check_id(value: str, what: str = "id") -> str:
    """Return value if it is a valid site/node/instance id, else raise TopicError."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise TopicError(
            f"invalid {what} {value!r}: use 1-64 of A-Z a-z 0-9 _ . - (no '/', '+', '#'),"
            " starting with a letter or digit"
        )
    return value


def is_valid_id(value: str) -> bool:
    """True if value can be used as a site, node or instance id."""
    return isinstance(value, str) and bool(_ID_RE.match(value))


@dataclass(frozen=True)
class NodeTopic:
    """A parsed node topic."""

    site: str
    node: str
    kind: NodeKind


@dataclass(frozen=True)
class CentralTopic:
    """A parsed central instance topic."""

    instance: str


class Topics:
    """Builds and parses every topic under one prefix (default ``kotanet/v1``)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        prefix = prefix.strip("/")
        if not prefix or any(c in prefix for c in "+#") or prefix.startswith("$"):
            raise TopicError(f"invalid topic prefix {prefix!r}")
        self.prefix = prefix
        self._depth = len(prefix.split("/"))

    def node(self, site: str, node: str, kind: NodeKind) -> str:
        """Topic of one node's message kind."""
        if kind not in NODE_KINDS:
            raise TopicError(f"unknown node topic kind {kind!r}")
        return f"{self.prefix}/node/{check_id(site, 'site')}/{check_id(node, 'node')}/{kind}"

    def central_state(self, instance: str) -> str:
        """Retained presence topic of one central instance."""
        return f"{self.prefix}/central/{check_id(instance, 'instance')}/state"

    def all_central_states(self) -> str:
        """Filter matching every central instance's state."""
        return f"{self.prefix}/central/+/state"

    def node_filter(self, kind: NodeKind, site: str = "+", node: str = "+") -> str:
        """Subscription filter for one kind over all (or some) nodes."""
        if kind not in NODE_KINDS:
            raise TopicError(f"unknown node topic kind {kind!r}")
        return f"{self.prefix}/node/{site}/{node}/{kind}"

    def shared(self, topic_filter: str, group: str = SHARE_GROUP) -> str:
        """Wrap a filter in an MQTT 5 shared subscription."""
        return f"$share/{group}/{topic_filter}"

    def parse(self, topic: str) -> NodeTopic | CentralTopic:
        """Parse a concrete topic; raise TopicError if it is not a v1 topic under this prefix."""
        parts = topic.split("/")
        head, rest = parts[: self._depth], parts[self._depth :]
        if "/".join(head) != self.prefix:
            raise TopicError(f"topic {topic!r} is not under prefix {self.prefix!r}")
        if len(rest) == 4 and rest[0] == "node" and rest[3] in NODE_KINDS:
            site, node = check_id(rest[1], "site"), check_id(rest[2], "node")
            return NodeTopic(site=site, node=node, kind=rest[3])  # type: ignore[arg-type]
        if len(rest) == 3 and rest[0] == "central" and rest[2] == "state":
            return CentralTopic(instance=check_id(rest[1], "instance"))
        raise TopicError(f"topic {topic!r} is not a kotanet v1 topic")
