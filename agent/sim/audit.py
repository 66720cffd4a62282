"""Ground truth for tests: every seq a simulated node's outbox hands out, appended to a file.

Only for nodes whose state dir already holds ``audit.seqs`` (tests create it). One unbuffered
append per record, before the record can be published, so a SIGKILL never loses a line.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.transport.outbox import Outbox

AUDIT_FILE = "audit.seqs"


def _append(path: Path, seq: int, kind: str) -> None:
    target = path.with_name(AUDIT_FILE)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        return
    try:
        os.write(fd, f"{seq} {kind}\n".encode())
    finally:
        os.close(fd)


def enable_if_requested(state_dirs: list[Path]) -> bool:
    """Trace new seqs if any of these node state dirs holds an audit file; True if on."""
    if any((d / AUDIT_FILE).exists() for d in state_dirs):
        Outbox.trace = _append
        return True
    return False


def read_audit(state_dir: Path, kind: str | None = None) -> set[int]:
    """Seqs (of one kind, or all) recorded in a node's audit file."""
    path = state_dir / AUDIT_FILE
    if not path.exists():
        return set()
    out = set()
    for line in path.read_text().splitlines():
        seq, _, k = line.partition(" ")
        if seq.isdigit() and (kind is None or k == kind):
            out.add(int(seq))
    return out
