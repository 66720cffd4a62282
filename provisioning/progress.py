"""A plain-text progress bar: redraws in place on a TTY, one line per step otherwise."""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    """Progress over a known number of items, written to a stream (stderr by default)."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, width: int = 30) -> None:
        self.total, self.label, self.width = max(total, 1), label, width
        self.stream = stream if stream is not None else sys.stderr
        self.done = 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def step(self, item: str) -> None:
        """Count one item as done and show it."""
        self.done = min(self.done + 1, self.total)
        filled = self.width * self.done // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        pct = 100 * self.done // self.total
        line = f"{self.label} [{bar}] {self.done}/{self.total} {pct:3d}% {item}"
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
