"""`kotanet-agent status`: what the running agent reports about itself, from its snapshot.

No broker and no root needed: it reads the snapshot the agent keeps in RAM
(``[agent] status_file``, default /run/kotanet/status.json). ``--json`` prints the snapshot
itself (plus ``age_s`` and ``stale``) for scripts.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import IO, Any

from agent.fieldtools.snapfile import is_stale, read_snapshot
from agent.fieldtools.view import View, build_view

MARK = {"ok": "✓", "warn": "!", "bad": "✗", "info": "·"}
#: exit status: fresh snapshot / stale snapshot (agent hangs) / no snapshot at all
EXIT_OK, EXIT_STALE, EXIT_NONE = 0, 1, 3


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def render_text(view: View) -> str:
    """The view as plain text for a terminal (one row per line, marks for the level)."""
    lines = [view.title, f"{MARK[view.level]} {view.headline}"]
    for sec in view.sections:
        lines += ["", sec.title]
        pad = max((_width(r.label) for r in sec.rows), default=0)
        lines += [f"  {MARK[r.level]} {r.label}{' ' * (pad - _width(r.label))}  {r.value}"
                  for r in sec.rows]
    return "\n".join(lines) + "\n"


def run_status(path: str, lang: str, as_json: bool, out: IO[str] | None = None) -> int:
    """Print the status from the snapshot at ``path``; returns the exit status."""
    out = out or sys.stdout
    snap = read_snapshot(path) if path else None
    if as_json:
        doc: dict[str, Any] = snap if snap is not None else {"schema": None, "path": path}
        if snap is not None:
            doc["stale"] = is_stale(snap)
        out.write(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    else:
        out.write(render_text(build_view(snap, lang, path or "status_file = \"\"")))
    if snap is None:
        return EXIT_NONE
    return EXIT_STALE if is_stale(snap) else EXIT_OK
