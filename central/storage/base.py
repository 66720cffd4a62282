"""The storage interface every backend (SQLite now, PostgreSQL later) implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from central.config import RegistryNode
from protocol.messages import Birth, CommandAck, NodeState, Tele

NodeMessage = Birth | Tele | NodeState | CommandAck


class StorageError(RuntimeError):
    """The database refused a write or could not be opened."""


@dataclass(frozen=True)
class Incoming:
    """One accepted message of a node, in arrival order, ready to be stored."""

    site: str
    node: str
    msg: NodeMessage
    received_ms: int
    unregistered: bool = False


@dataclass(frozen=True)
class Gap:
    """Record seqs of a node missing after the grace period and not reported as dropped."""

    node: str
    from_seq: int
    to_seq: int
    seen_ms: int

    @property
    def missing(self) -> int:
        """How many seqs the gap spans."""
        return self.to_seq - self.from_seq + 1

    def as_dict(self) -> dict[str, int | str]:
        """JSON-ready form."""
        return {"node": self.node, "from_seq": self.from_seq, "to_seq": self.to_seq,
                "missing": self.missing, "seen_ms": self.seen_ms}


@dataclass(frozen=True)
class NodeFloors:
    """Where a node must continue if it lost its own state (wiped or replaced SD card).

    ``seq_floor``: the highest record seq central holds for the node (samples, events,
    reported drops) + 1; ``session_floor``: the highest session it has seen + 1; 0 if none.
    """

    seq_floor: int = 0
    session_floor: int = 0

    @classmethod
    def above(cls, seqs: Sequence[int | None], sessions: Sequence[int | None]) -> NodeFloors:
        """Floors just above the largest known values (None = nothing stored)."""
        top_seq = max((int(v) for v in seqs if v is not None), default=-1)
        top_session = max((int(v) for v in sessions if v is not None), default=-1)
        return cls(top_seq + 1, top_session + 1)


def subtract_ranges(lo: int, hi: int, holes: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of [lo, hi] not covered by any of the (inclusive) ranges in holes."""
    out: list[tuple[int, int]] = []
    cur = lo
    for a, b in sorted(holes):
        if b < cur or a > hi:
            continue
        if a > cur:
            out.append((cur, a - 1))
        cur = max(cur, b + 1)
        if cur > hi:
            break
    if cur <= hi:
        out.append((cur, hi))
    return out


class Storage(Protocol):
    """What the collector writes and what the API reads; all methods are thread-safe."""

    def sync_registry(self, nodes: Sequence[RegistryNode]) -> None:
        """Insert or update the registry's nodes (site, role, name; clears 'unregistered')."""

    def write(self, batch: Sequence[Incoming]) -> None:
        """Store a batch in arrival order in ONE transaction, idempotent on (node, seq)."""

    def list_nodes(self) -> list[dict[str, Any]]:
        """Every node with presence and headline fields of its newest sample."""

    def node_site(self, node: str) -> str | None:
        """The site of one node, None if unknown."""
        raise NotImplementedError

    def node_detail(self, node: str, now_ms: int, grace_ms: int) -> dict[str, Any] | None:
        """Birth info, last sample, presence, gap/drop summary of one node (None if unknown)."""

    def samples(self, node: str, since_ms: int | None, until_ms: int | None,
                limit: int) -> list[dict[str, Any]]:
        """Samples of a node with since_ms <= ts_ms < until_ms, oldest first, at most limit."""

    def events(self, node: str, since_ms: int | None, until_ms: int | None,
               limit: int) -> list[dict[str, Any]]:
        """Events of a node in a time window, oldest first, at most limit."""

    def rollup(self, node: str, since_ms: int, until_ms: int,
               bucket_ms: int) -> list[dict[str, Any]]:
        """The node's 5-minute rollup rows (rollup.py) with since <= bucket start < until,
        merged per (uplink, k = (bucket start - since) // bucket_ms): sums and counts added,
        maxima max, first_key min, first_ms the earliest bucket; ordered by k, uplink."""

    def site_rx(self, since_ms: int, until_ms: int) -> list[dict[str, Any]]:
        """(site, bucket_ms, rx_bps) per site and 5-minute bucket with since <= start < until:
        the sum over the site's nodes of each node's mean per-sample total rx_bps."""

    def gaps(self, now_ms: int, grace_ms: int, node: str | None = None) -> list[Gap]:
        """Gaps older than the grace period, minus agent-reported drops."""

    def drops(self, node: str) -> list[dict[str, Any]]:
        """Ranges the agent reported as dropped on its side."""

    def node_floors(self, node: str) -> NodeFloors:
        """Highest stored seq and seen session of a node, each + 1 (0 if none): enrolment."""

    def totals(self) -> dict[str, int]:
        """Row counts (nodes, nodes_online, samples, events, drops) for stats and metrics."""

    def retention_nodes(self) -> list[str]:
        """Every node that may have rows (retention walks them one at a time)."""

    def delete_old(self, table: str, node: str, cutoff_ms: int, limit: int) -> int:
        """Delete at most ``limit`` rows of ``node`` in ``table`` older than cutoff_ms (its
        time column: storage.retention), in one short transaction; returns how many."""

    def add_token(self, name: str, role: str, token_sha256: str) -> None:
        """Store an API token (only its SHA-256) with a role."""

    def token_role(self, token_sha256: str) -> tuple[str, str] | None:
        """(name, role) of a stored token, or None."""

    def close(self) -> None:
        """Close every connection."""
