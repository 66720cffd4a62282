"""Small helpers shared by the e2e tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from agent.sim.audit import AUDIT_FILE, read_audit
from agent.sim.stack import Stack
from tests.dbread import read_rows

StackFactory = Callable[..., Stack]
#: Run a test's stacks on both of central's backends (the ``backend`` fixture of conftest.py).
BOTH_BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)


def node_by_id(nodes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Index the API's node list by node id."""
    return {str(n["node"]): n for n in nodes}


def vmrss_kb(pid: int) -> int:
    """Resident set size of a process in kB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise ValueError(f"no VmRSS for pid {pid}")


AUDIT_SQL = """
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS rec_audit AFTER INSERT ON rec
BEGIN INSERT OR IGNORE INTO audit(seq, kind) VALUES (NEW.seq, NEW.kind); END;
"""


def install_audit(state_dir: Path, nodes: list[str]) -> None:
    """Pre-create each node's outbox with a trigger that records every seq written to disk,
    and the audit file in which kotanet-sim records every seq handed out (write-behind
    records receipted from RAM never reach the disk)."""
    from agent.runtime import OUTBOX_FILE
    from agent.transport.outbox import SCHEMA

    for node in nodes:
        path = state_dir / node / OUTBOX_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(path)) as db:
            db.executescript(SCHEMA + AUDIT_SQL)
        (path.parent / AUDIT_FILE).touch()  # kotanet-sim appends every seq it hands out


def audited(st: Stack, node: str, kind: str | None = None) -> set[int]:
    """Every seq (of one kind: sample/event, or all) this node's outbox (under the stack's
    ``nodes`` state dir) wrote to disk, plus those it handed out from RAM (write-behind) that
    the stack's central has stored.

    Records handed out but neither written nor receipted when a SIGKILL struck never existed
    for anyone; a stored seq the node never handed out shows up as "invented".
    """
    from agent.runtime import OUTBOX_FILE

    state_dir = st.dir / "nodes"
    sql, args = "SELECT seq FROM audit", ()
    if kind is not None:
        sql, args = sql + " WHERE kind = ?", (kind,)  # type: ignore[assignment]
    with closing(sqlite3.connect(state_dir / node / OUTBOX_FILE, timeout=10)) as db:
        on_disk = {int(r[0]) for r in db.execute(sql, args)}
    have = stored(st, node).get(node, ([], []))
    return on_disk | (read_audit(state_dir / node, kind) & set(have[0] + have[1]))


def central_rows(st: Stack, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of one read-only query (SQLite's spelling, ``?`` placeholders) on the stack's
    central database, SQLite or PostgreSQL alike (tests/dbread.py)."""
    return read_rows(st.state_target, sql, params)


def stored(st: Stack, node: str | None = None) -> dict[str, tuple[list[int], list[int]]]:
    """Per node (all, or one): (sample seqs, event seqs) in the stack's central database,
    with repeats."""
    where, args = ("WHERE node = ?", (node,)) if node is not None else ("", ())
    out: dict[str, tuple[list[int], list[int]]] = {}
    for table, idx in (("samples", 0), ("events", 1)):
        for r in central_rows(st, f"SELECT node, seq FROM {table} {where}", args):
            out.setdefault(str(r["node"]), ([], []))[idx].append(int(r["seq"]))
    return out
