"""Message builders for the backend tests (the same inputs go to SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from central.storage import Incoming
from central.storage.base import Storage
from protocol.messages import Birth, CommandAck, NodeState, Tele


def tele(seqs: list[int], node: str = "n1", site: str = "s1", t: int = 100, session: int = 1,
         dropped: list[Any] | None = None, events: list[dict[str, Any]] | None = None,
         sample: dict[str, Any] | None = None) -> Incoming:
    """A tele batch with one sample per seq (plus the given events, which carry their seq)."""
    evs = events or []
    msg = Tele.model_validate({
        "site": site, "node": node, "ts_ms": t, "session": session,
        "seq": min([*seqs, *(e["seq"] for e in evs)]), "dropped": dropped or [],
        "samples": [{"seq": s, "ts_ms": s * 1000, **(sample or {})} for s in seqs],
        "events": evs})
    return Incoming(site, node, msg, t)


def state(online: bool, session: int, t: int, node: str = "n1", site: str = "s1") -> Incoming:
    """A retained state (or Will when offline) of a node."""
    return Incoming(site, node, NodeState.model_validate(
        {"site": site, "node": node, "ts_ms": t, "online": online, "session": session}), t)


def birth(session: int, t: int, node: str = "n1", site: str = "s1",
          role: str = "office") -> Incoming:
    """A birth of a node."""
    return Incoming(site, node, Birth.model_validate(
        {"site": site, "node": node, "ts_ms": t, "session": session, "boot_id": "b",
         "agent_version": "1", "config_hash": "h", "role": role,
         "uplinks": [{"name": "fiber", "iface": "eth0", "kind": "ethernet", "priority": 1}],
         "clock": {"synced": True, "wall_ms": t}}), t)


def ack(cmd_id: str, stage: str, t: int, node: str = "n1", detail: str = "") -> Incoming:
    """A command ack."""
    return Incoming("s1", node, CommandAck.model_validate(
        {"site": "s1", "node": node, "ts_ms": t, "cmd_id": cmd_id, "stage": stage,
         "applied_version": 4, "detail": detail}), t)


def presence(db: Storage, node: str = "n1") -> tuple[int, int, int | None]:
    """(online, session, offline_since_ms) of a node as the API shows it."""
    row = next(r for r in db.list_nodes() if r["node"] == node)
    return row["online"], row["session"], row["offline_since_ms"]


def acks(db: Storage) -> list[tuple[str, str, int]]:
    """The stored command acks, read straight from the backend's database."""
    sql = "SELECT cmd_id, stage, applied_version FROM cmd_acks ORDER BY cmd_id, stage"
    path = getattr(db, "path", None)
    if path is not None:
        import sqlite3

        with sqlite3.connect(path) as c:
            return [tuple(r) for r in c.execute(sql)]  # type: ignore[misc]
    import psycopg

    with psycopg.connect(db.url) as c:  # type: ignore[attr-defined]
        return [tuple(r) for r in c.execute(sql)]  # type: ignore[misc]
