"""``python -m central.noc``: the NOC's offline tools, no running central needed.

``create-user NAME [--role] [--db]`` adds an account (password from KOTANET_NOC_PASSWORD or the
terminal); ``assets [NODE_MODULES]`` copies the npm-installed front-end libraries (Leaflet,
uPlot) into the served static folder (``make noc-assets`` runs it after ``npm ci``).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from central.api.auth import ROLES
from central.noc.assets import install
from central.noc.context import STATIC_DIR
from central.noc.store import StoreError, create_user
from central.storage.location import SQLITE, scheme, sqlite_file


def _create_user(args: argparse.Namespace) -> str:
    password = os.environ.get("KOTANET_NOC_PASSWORD") or getpass.getpass("password: ")
    db = sqlite_file(args.db) if scheme(args.db) == SQLITE else args.db
    user = create_user(db, args.username, password, args.role)
    where = db.rsplit("@", 1)[-1]  # a postgresql:// URL's password stays out of the output
    return f"created {user.role} {user.username!r} in {where}"


def _assets(args: argparse.Namespace) -> str:
    copied = install(Path(args.node_modules))
    return f"noc assets: {len(copied)} files in {STATIC_DIR / 'vendor'}"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m central.noc", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create-user", help="add a NOC account")
    c.add_argument("username")
    c.add_argument("--role", choices=ROLES, default="admin")
    c.add_argument("--db", default=os.environ.get("KOTANET_NOC_DB") or os.environ.get(
        "KOTANET_STATE_DB") or os.environ.get("KOTANET_DB", "sqlite:///var/lib/kotanet/central.db"),
        help="sqlite:///path, a file path or postgresql://... (default: KOTANET_NOC_DB, "
        "KOTANET_STATE_DB, KOTANET_DB)")
    c.set_defaults(run=_create_user, errors=StoreError, prefix="error: ")
    a = sub.add_parser("assets", help="copy the front-end libraries from node_modules")
    a.add_argument("node_modules", nargs="?", default="node_modules")
    a.set_defaults(run=_assets, errors=FileNotFoundError, prefix="noc assets: ")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; exit status 1 (message on stderr) if it was refused."""
    args = _parser().parse_args(argv)
    try:
        print(args.run(args))
    except args.errors as exc:
        print(f"{args.prefix}{exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
