"""The agent's only use of subprocess: run a command with a timeout, never raise on failure."""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExecResult:
    """Outcome of one command; ``rc`` is None when it could not run or timed out."""

    cmd: tuple[str, ...]
    rc: int | None
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    missing: bool = False

    @property
    def ok(self) -> bool:
        """True when the command ran and exited 0."""
        return self.rc == 0


Runner = Callable[[Sequence[str], float], ExecResult]


def _real_run(cmd: Sequence[str], timeout: float) -> ExecResult:
    argv = tuple(cmd)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return ExecResult(argv, None, missing=True, stderr=f"{argv[0]}: not found")
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
        return ExecResult(argv, None, out, f"timed out after {timeout}s", timed_out=True)
    except OSError as exc:
        return ExecResult(argv, None, stderr=f"{argv[0]}: {exc.strerror}")
    return ExecResult(argv, proc.returncode, proc.stdout, proc.stderr)


_runner: Runner = _real_run


def run(cmd: Sequence[str], timeout: float = 5.0) -> ExecResult:
    """Run ``cmd`` (no shell) with a timeout; failures come back in the result, never raised."""
    res = _runner(cmd, timeout)
    if not res.ok:
        log.debug("%s -> rc=%s %s", " ".join(cmd), res.rc, res.stderr.strip()[:200])
    return res


def which(name: str) -> str | None:
    """Full path of an executable on PATH (or the path itself if it is one), else None."""
    return shutil.which(name)


def set_runner(runner: Runner | None) -> Runner:
    """Swap the command runner (tests); None restores the real one. Returns the previous."""
    global _runner
    prev = _runner
    _runner = runner or _real_run
    return prev
