"""Check that a built kotanet wheel carries what a working NOC needs (exit 1 and say what is
missing): the pages' scripts and styles, the messages, and the vendored front-end libraries
with their licences. ``make wheel`` runs it; so does tests/packaging/test_wheel.py."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from central.noc.assets import FILES

NOC = "central/noc/"
REQUIRED = [f"{NOC}static/{name}" for name in ("common.js", "fleet.js", "node.js", "noc.css")]
REQUIRED += [f"{NOC}messages.json"]
REQUIRED += [f"{NOC}static/vendor/{pkg}/{rel.removeprefix('dist/')}"
             for pkg, files in FILES.items() for rel in files]


def missing(wheel: Path) -> list[str]:
    """The required files the wheel lacks."""
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    return [f for f in REQUIRED if f not in names]


def main(argv: list[str]) -> int:
    """Check each wheel given; 0 if all are complete."""
    if not argv:
        print("usage: check_wheel.py WHEEL...", file=sys.stderr)
        return 2
    bad = 0
    for arg in argv:
        lack = missing(Path(arg))
        if lack:
            bad += 1
            print(f"{arg}: missing {len(lack)} file(s) (run `make noc-assets` before building):",
                  *lack, sep="\n  ", file=sys.stderr)
        else:
            print(f"{arg}: NOC files complete ({len(REQUIRED)} checked)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
