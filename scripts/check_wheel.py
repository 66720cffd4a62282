"""Check that a built kotanet wheel carries what a working NOC needs (exit 1 and say what is
missing): the pages' scripts and styles, the messages, the vendored front-end libraries with
their licences, and every file under the source tree's central/noc/static/ and templates/
(the tree the wheel was built from: ``--source``, default this checkout).
``make wheel`` runs it; so does tests/packaging/test_wheel.py."""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from central.noc.assets import FILES  # noqa: E402

NOC = "central/noc/"
REQUIRED = [f"{NOC}static/{name}" for name in ("common.js", "fleet.js", "node.js", "noc.css")]
REQUIRED += [f"{NOC}messages.json"]
REQUIRED += [f"{NOC}static/vendor/{pkg}/{rel.removeprefix('dist/')}"
             for pkg, files in FILES.items() for rel in files]


def required(source: Path) -> list[str]:
    """REQUIRED plus every (non-hidden) file of the source's NOC static/ and templates/."""
    out = list(REQUIRED)
    for folder in ("static", "templates"):
        base = source / NOC / folder
        out += sorted(p.relative_to(source).as_posix() for p in base.rglob("*")
                      if p.is_file() and not p.name.startswith("."))
    return sorted(set(out))


def missing(wheel: Path, source: Path = ROOT) -> list[str]:
    """The required files the wheel lacks."""
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    return [f for f in required(source) if f not in names]


def main(argv: list[str]) -> int:
    """Check each wheel given; 0 if all are complete."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("wheels", nargs="+", type=Path)
    p.add_argument("--source", type=Path, default=ROOT, help="the tree the wheel was built from")
    args = p.parse_args(argv)
    bad = 0
    for arg in args.wheels:
        lack = missing(arg, args.source)
        if lack:
            bad += 1
            print(f"{arg}: missing {len(lack)} file(s) (run `make noc-assets` before building):",
                  *lack, sep="\n  ", file=sys.stderr)
        else:
            print(f"{arg}: NOC files complete ({len(required(args.source))} checked)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
