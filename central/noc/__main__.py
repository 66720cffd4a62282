"""``python -m central.noc create-user``: add a NOC account without a running central."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from central.api.auth import ROLES
from central.noc.store import StoreError, create_user
from central.storage.url import SQLITE, scheme, sqlite_file


def main(argv: list[str] | None = None) -> int:
    """Create a user in central's SQLite database (password from KOTANET_NOC_PASSWORD or tty)."""
    p = argparse.ArgumentParser(prog="python -m central.noc", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create-user", help="add a NOC account")
    c.add_argument("username")
    c.add_argument("--role", choices=ROLES, default="admin")
    c.add_argument("--db", default=os.environ.get("KOTANET_NOC_DB") or os.environ.get(
        "KOTANET_STATE_DB") or os.environ.get("KOTANET_DB", "sqlite:///var/lib/kotanet/central.db"),
        help="sqlite:///path or a file path (default: KOTANET_NOC_DB, KOTANET_STATE_DB, "
        "KOTANET_DB)")
    args = p.parse_args(argv)
    password = os.environ.get("KOTANET_NOC_PASSWORD") or getpass.getpass("password: ")
    db = sqlite_file(args.db) if scheme(args.db) == SQLITE else args.db
    try:
        user = create_user(db, args.username, password, args.role)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"created {user.role} {user.username!r} in {db}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
