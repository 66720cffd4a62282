"""Commands, acks, desired state and the leader lease in central's SQLite DB (own connection)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from central.commands import _sql as q
from central.storage.statedb import open_state

LEASE_NAME = "policy"  # the leader lease (central.commands.leader)
THROTTLE_KINDS = frozenset({"set_throttle", "clear_throttle"})
UNVERSIONED_KINDS = frozenset({"resync"})


def _store_command(c: Any, rec: dict[str, Any], floor: int,
                   lease_s: float | None) -> dict[str, Any]:
    """new_command's transaction body (see CommandStore.new_command)."""
    out = dict(rec)
    current = int(c.execute(q.MAX_EPOCH).fetchone()[0])
    lease_epoch = current if out.get("epoch") is None else int(out["epoch"])
    # a deposed leader's command is stored (its stale_epoch ack will show) but never
    # becomes the desired state, or a later birth would re-send it with the new epoch;
    # it gets no node offset, so a node whose epoch was raised refuses it too
    stale_issuer = lease_epoch < current
    out["epoch"] = lease_epoch + (0 if stale_issuer else _offset(c, out["node"]))
    args = {"node": out["node"], "floor": floor}
    if out["kind"] not in UNVERSIONED_KINDS:
        c.execute(q.BUMP_VERSION, args)
    elif floor:
        c.execute(q.RAISE_VERSION, args)
    row = c.execute(q.GET_VERSION, (out["node"],)).fetchone()
    out["version"] = int(row[0]) if row else 0
    c.execute(q.INSERT_COMMAND, {**out, "params": json.dumps(out["params"])})
    if out["kind"] in THROTTLE_KINDS and not stale_issuer:
        c.execute(q.UPSERT_DESIRED, {
            "node": out["node"], "site": out["site"], "kind": out["kind"],
            "version": out["version"], "params": json.dumps(out["params"]),
            "lease_s": lease_s, "cmd_id": out["cmd_id"], "sent_ms": out["issued_at_ms"]})
    return out


def _offset(c: Any, node: str) -> int:
    row = c.execute(q.GET_OFFSET, (node,)).fetchone()
    return int(row[0]) if row else 0


class CommandStoreError(RuntimeError):
    """The command tables could not be read or written."""


class CommandStore:
    """Thread-safe access to the command tables; every write is one IMMEDIATE transaction."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 10.0) -> None:
        self._db = open_state(path, "commands", q.MIGRATIONS, error=CommandStoreError,
                              what="command tables",
                            busy_timeout_s=busy_timeout_s, json_columns=("params",))
        self.path = self._db.path

    # ------------------------------------------------------------ commands
    def new_command(self, rec: dict[str, Any], *, floor: int = 0,
                    lease_s: float | None = None) -> dict[str, Any]:
        """Store a command: fill version (bumped above floor) and epoch (None = current max).

        ``rec`` holds cmd_id, node, site, kind, epoch (a leader epoch), params, issued_at_ms,
        expires_at_ms, origin, issued_by. The stored and sent epoch is that leader epoch plus
        the node's own offset (0 unless its birth showed central's history was lost; never for a
        deposed leader). Throttle
        kinds also become the node's desired state, unless their leader epoch is below the
        highest granted one (a deposed leader's command).
        """
        return self._db.tx(lambda c: _store_command(c, rec, floor, lease_s))

    def copy_desired(self, rec: dict[str, Any], of: str, *, floor: int = 0,
                     lease_s: float | None = None) -> dict[str, Any] | None:
        """Store a copy of the node's desired state (a lease renewal, a birth re-send) as
        new_command does, only if the desired state is still the one command ``of`` set.

        The copy's params were read before; an operator or policy command committed since
        then is newer, and a copy with a higher version would undo it on the node and in the
        desired state. The check and the version are one transaction (compare-and-set on the
        desired row's cmd_id): None (nothing stored, no version used) if the row changed; the
        newer command was sent by its own path.
        """
        def tx(c: Any) -> dict[str, Any] | None:
            row = c.execute(q.GET_DESIRED_CMD, (rec["node"],)).fetchone()
            if row is None or row[0] != of:
                return None
            return _store_command(c, rec, floor, lease_s)
        return self._db.tx(tx)

    def version(self, node: str) -> int:
        """The highest version allocated for node (0 = none)."""
        row = self._db.one(q.GET_VERSION, (node,))
        return int(row["version"]) if row else 0

    def raise_version(self, node: str, floor: int) -> tuple[int, int]:
        """Make sure the next version of node is above floor (e.g. a birth's applied_version);
        never lowers it. Returns the node's counter (before, after)."""
        def tx(c: Any) -> tuple[int, int]:
            row = c.execute(q.GET_VERSION, (node,)).fetchone()
            before = int(row[0]) if row else 0
            if floor > before:
                c.execute(q.RAISE_VERSION, {"node": node, "floor": floor})
            return before, max(before, floor)
        return self._db.tx(tx)

    def command(self, cmd_id: str) -> dict[str, Any] | None:
        """One command with its ack stages (oldest first), or None."""
        cmd = self._db.one(q.GET_COMMAND, (cmd_id,))
        if cmd is not None:
            cmd["stages"] = self._db.all(q.GET_STAGES, (cmd_id,))
        return cmd

    def record_ack(self, node: str, ack: dict[str, Any], received_ms: int) -> bool:
        """Store one ack stage of a known command; False if unknown or already stored."""
        def tx(c: Any) -> bool:
            row = c.execute("SELECT node FROM commands WHERE cmd_id = ?",
                            (ack["cmd_id"],)).fetchone()
            if row is None or row[0] != node:
                return False
            cur = c.execute(q.INSERT_ACK, (ack["cmd_id"], ack["stage"], node, ack["code"],
                                           ack["detail"], ack["applied_version"], ack["ts_ms"],
                                           received_ms))
            return cur.rowcount == 1
        return self._db.tx(tx)

    def stage_counts(self) -> dict[tuple[str, str], int]:
        """Commands issued and ack stages recorded so far, by (kind, stage)."""
        return {(r["kind"], r["stage"]): int(r["n"]) for r in self._db.all(q.STAGE_COUNTS)}

    def desired(self, node: str) -> dict[str, Any] | None:
        """The node's desired throttle state (last set_throttle/clear_throttle), or None."""
        return self._db.one(q.GET_DESIRED, (node,))

    def leased(self) -> list[dict[str, Any]]:
        """Desired set_throttle states that carry a lease (candidates for renewal)."""
        return self._db.all(q.LEASED_DESIRED)

    # ------------------------------------------------------------ leader lease
    def lease_acquire(self, name: str, holder: str, now_ms: int, ttl_ms: int) -> int | None:
        """Take or renew the lease; returns our epoch, or None if another holder has it."""
        def tx(c: Any) -> int | None:
            row = c.execute(q.GET_LEASE, (name,)).fetchone()
            if row is None:
                top = int(c.execute(q.MAX_EPOCH).fetchone()[0])
                c.execute(q.INSERT_LEASE, (name, holder, top + 1, now_ms + ttl_ms, now_ms))
                return top + 1
            cur_holder, epoch, expires_ms, _ = row
            if cur_holder == holder and expires_ms > now_ms:
                c.execute(q.TAKE_LEASE, (holder, epoch, now_ms + ttl_ms, now_ms, name))
                return int(epoch)
            if expires_ms > now_ms:
                return None
            c.execute(q.TAKE_LEASE, (holder, epoch + 1, now_ms + ttl_ms, now_ms, name))
            return int(epoch) + 1
        return self._db.tx(tx)

    def lease_renew(self, name: str, holder: str, epoch: int, now_ms: int, ttl_ms: int) -> bool:
        """Extend our unexpired lease of this epoch; False if it lapsed or was taken."""
        return self._db.tx(lambda c: c.execute(
            q.RENEW_LEASE, (now_ms + ttl_ms, now_ms, name, holder, epoch, now_ms)).rowcount == 1)

    def lease_release(self, name: str, holder: str, epoch: int) -> None:
        """Let the lease lapse now (clean shutdown) so another instance takes over at once."""
        self._db.tx(lambda c: c.execute(q.RELEASE_LEASE, (name, holder, epoch)))

    def lease_info(self, name: str) -> dict[str, Any] | None:
        """holder, epoch, expires_ms, renewed_ms of a lease (None if never taken)."""
        return self._db.one(q.GET_LEASE, (name,))

    def raise_epoch(self, seen: int, now_ms: int, name: str = LEASE_NAME) -> tuple[int, int]:
        """A node has seen epoch ``seen``: if that is above every epoch ever granted, raise the
        lease's epoch to seen + 1 (atomically in SQL; never lowers). Returns the highest epoch
        (before, after); equal when nothing changed."""
        def tx(c: Any) -> tuple[int, int]:
            before = int(c.execute(q.MAX_EPOCH).fetchone()[0])
            c.execute(q.RAISE_EPOCH, {"name": name, "seen": seen, "now": now_ms})
            return before, int(c.execute(q.MAX_EPOCH).fetchone()[0])
        return self._db.tx(tx)

    def node_epoch(self, node: str) -> int:
        """The epoch the current leader's next command to node carries (lease + node offset)."""
        return self._db.tx(lambda c: int(c.execute(q.MAX_EPOCH).fetchone()[0])
                           + _offset(c, node))

    def issued_epoch(self, node: str, epoch: int) -> bool:
        """True if central's records hold a command to node with exactly this epoch."""
        return self._db.one(q.ISSUED_EPOCH, (node, epoch)) is not None

    def raise_node_epoch(self, node: str, seen: int) -> tuple[int, int]:
        """Make node's next epoch at least seen + 1 by raising its offset only (never lowers;
        no other node's epoch moves). Returns node_epoch (before, after)."""
        def tx(c: Any) -> tuple[int, int]:
            current = int(c.execute(q.MAX_EPOCH).fetchone()[0])
            before = current + _offset(c, node)
            if seen >= before:
                c.execute(q.RAISE_OFFSET, {"node": node, "seen": seen})
            return before, current + _offset(c, node)
        return self._db.tx(tx)

    def current_epoch(self) -> int:
        """The highest leader epoch ever granted (0 before the first leader)."""
        row = self._db.one(q.MAX_EPOCH)
        return int(row["epoch"]) if row else 0

    def close(self) -> None:
        """Close the connection."""
        self._db.close()
