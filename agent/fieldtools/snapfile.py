"""The status snapshot file: atomic write on tmpfs, bounded read (standard library only).

Readers (`status`, the status page) import only this module, so they never load pydantic or
paho and stay small.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

DEFAULT_PATH = "/run/kotanet/status.json"
MAX_BYTES = 1 << 20  # a snapshot is a few kB; anything bigger is not ours


def write_file(path: Path, data: bytes) -> None:
    """Replace ``path`` atomically (temporary file + rename, mode 0644, no fsync: RAM)."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_snapshot(path: str | Path) -> dict[str, Any] | None:
    """The snapshot at ``path`` with ``age_s`` added, or None if absent or unreadable."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            st = os.fstat(fh.fileno())
            raw = fh.read(MAX_BYTES + 1)
    except OSError:
        return None
    try:
        data = json.loads(raw) if len(raw) <= MAX_BYTES else None
    except ValueError:
        return None
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith("kotanet.status/"):
        return None
    data["age_s"] = round(max(0.0, time.time() - st.st_mtime), 1)
    return data


def is_stale(snap: dict[str, Any]) -> bool:
    """True when the agent has not rewritten the snapshot for three sample intervals."""
    interval = float((snap.get("node") or {}).get("sample_interval_s") or 10.0)
    return float(snap.get("age_s") or 0.0) > 3 * interval + 5
