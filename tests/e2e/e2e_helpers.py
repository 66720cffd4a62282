"""Small helpers shared by the e2e tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

from agent.sim.audit import AUDIT_FILE, read_audit
from agent.sim.stack import Stack

StackFactory = Callable[..., Stack]


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


def audited(state_dir: Path, node: str, kind: str | None = None) -> set[int]:
    """Every seq (of one kind: sample/event, or all) this node's outbox wrote to disk, plus
    those it handed out from RAM (write-behind) that the stack's central has stored.

    Records handed out but neither written nor receipted when a SIGKILL struck never existed
    for anyone; a stored seq the node never handed out shows up as "invented".
    """
    from agent.runtime import OUTBOX_FILE

    sql, args = "SELECT seq FROM audit", ()
    if kind is not None:
        sql, args = sql + " WHERE kind = ?", (kind,)  # type: ignore[assignment]
    with closing(sqlite3.connect(state_dir / node / OUTBOX_FILE, timeout=10)) as db:
        on_disk = {int(r[0]) for r in db.execute(sql, args)}
    central_db = state_dir.parent / "central.db"  # Stack: <dir>/nodes and <dir>/central.db
    if not central_db.exists():
        return on_disk
    have = stored(central_db).get(node, ([], []))
    return on_disk | (read_audit(state_dir / node, kind) & set(have[0] + have[1]))


def stored(db_path: Path) -> dict[str, tuple[list[int], list[int]]]:
    """Per node: (sample seqs, event seqs) in central's SQLite database, with repeats."""
    out: dict[str, tuple[list[int], list[int]]] = {}
    with closing(sqlite3.connect(db_path, timeout=10)) as db:
        for table, idx in (("samples", 0), ("events", 1)):
            for node, seq in db.execute(f"SELECT node, seq FROM {table}"):
                out.setdefault(node, ([], []))[idx].append(int(seq))
    return out
