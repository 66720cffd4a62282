"""Small durable state files: atomic write (write + fsync + rename) and a persisted counter."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def atomic_write(path: str | Path, data: bytes) -> None:
    """Replace a file atomically and durably: write a temp file, fsync it, rename, fsync dir."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, p)
    fsync_dir(p.parent)


def fsync_dir(path: str | Path) -> None:
    """Make a directory's entries durable (after a rename or a new file in it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_json(path: str | Path) -> dict[str, Any] | None:
    """A JSON object from a file, or None if it is missing or unreadable (logged)."""
    p = Path(path)
    try:
        obj = json.loads(p.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable state file %s: %s", p, exc)
        return None
    return obj if isinstance(obj, dict) else None


def write_json(path: str | Path, obj: dict[str, Any]) -> None:
    """Atomically and durably write a JSON object."""
    atomic_write(path, json.dumps(obj, sort_keys=True).encode())


class DurableCounter:
    """A 64-bit counter in a file; ``next()`` persists the new value before returning it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.value = self._load()

    def _load(self) -> int:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return 0
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{self.path}: corrupt counter {text[:20]!r}; fix or remove it") from None
        if value < 0:
            raise ValueError(f"{self.path}: negative counter {value}")
        return value

    def next(self) -> int:
        """Increment, persist durably, and return the new value (never reused)."""
        self.raise_to(self.value + 1)
        return self.value

    def raise_to(self, value: int) -> bool:
        """Persist ``value`` if it is above the current one (never lowers); True if written."""
        if value <= self.value:
            return False
        atomic_write(self.path, f"{value}\n".encode())
        self.value = value
        return True


class SeqFloor:
    """A rarely written lower bound for new seqs, kept outside the outbox database.

    If the database is lost or corrupt, seqs restart at this floor, so none is ever reused.
    It is rewritten (one small fsync'd file) only every ``step`` seqs.
    """

    def __init__(self, path: str | Path, step: int = 10_000) -> None:
        self.path = Path(path)
        self.step = step
        data = read_json(self.path) or {}
        value = data.get("seq_floor", 0)
        self.value = value if isinstance(value, int) and value >= 0 else 0

    def raise_to(self, value: int) -> bool:
        """Persist ``value`` if it is above the current floor (never lowers); True if written."""
        if value <= self.value:
            return False
        write_json(self.path, {"seq_floor": value})
        self.value = value
        return True

    def cover(self, hwm: int) -> None:
        """Make sure the floor is above every seq below hwm."""
        if hwm > self.value:
            self.raise_to(hwm + self.step)
