"""One message's failure stays that message's: decode and store each message in isolation.

The writer commits a whole batch in one transaction. If the batch fails for a reason other
than the database being unreachable, every message is written alone: the good ones are stored
(and receipted), a message that still fails is counted by reason and acknowledged without a
receipt, so one hostile node can never keep other nodes' data out of the database.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from central.collector.ingest import Ingest
from central.collector.stats import Stats
from central.storage.base import Incoming, Storage, StorageError
from protocol.topics import NodeTopic, TopicError, Topics

log = logging.getLogger(__name__)


def node_of(topics: Topics, topic: str) -> str:
    """The node id a topic names, or "?" (never raises)."""
    try:
        parsed = topics.parse(topic)
    except (TopicError, ValueError):
        return "?"
    return parsed.node if isinstance(parsed, NodeTopic) else "?"


def accept_one(ingest: Ingest, topic: str, payload: bytes, received_ms: int) -> Incoming | None:
    """ingest.accept() that never raises: an unexpected failure is one counted rejection."""
    try:
        return ingest.accept(topic, payload, received_ms)
    except Exception as exc:  # the codec refuses with CodecError; anything else is isolated
        node = node_of(ingest.topics, topic)
        ingest.stats.fault("decode", node, exc)
        ingest.stats.reject("internal", node, f"{type(exc).__name__} while decoding")
        return None


def write_isolated(storage: Storage, incoming: Sequence[Incoming], stats: Stats) -> list[Incoming]:
    """Write the batch; if it fails, write message by message. Returns what was stored.

    Raises StorageError only when no message could be written (the database is down: nothing
    is receipted and the agents re-send).
    """
    try:
        storage.write(incoming)
        return list(incoming)
    except Exception as exc:
        if len(incoming) == 1:
            if isinstance(exc, StorageError):
                raise
            stats.fault("store", incoming[0].node, exc)
            stats.reject("store_failed", incoming[0].node, f"{type(exc).__name__} on write")
            return []
        first: BaseException = exc
    stored: list[Incoming] = []
    failed: list[tuple[Incoming, BaseException]] = []
    for inc in incoming:
        try:
            storage.write([inc])
            stored.append(inc)
        except Exception as one:
            failed.append((inc, one))
    if not stored and all(isinstance(e, StorageError) for _, e in failed):
        raise first if isinstance(first, StorageError) else StorageError(str(first))
    for inc, err in failed:
        stats.fault("store", inc.node, err)
        stats.reject("store_failed", inc.node, f"{type(err).__name__} on write")
    log.debug("batch of %d isolated: %d stored, %d refused", len(incoming), len(stored),
              len(failed))
    return stored
