"""What every kotanet-provision command shares: finding the deployment and a node, exit codes,
the broker-reload line, inventory problems in the technician's language, asking to confirm."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from provisioning.brokerfiles import DEFAULT_PID_FILES, RELOADED_PREFIX, load_manifest
from provisioning.deployment import Deployment, DeploymentError
from provisioning.i18n import Messages
from provisioning.inventory import Issue, load_inventory
from provisioning.rules import Inventory, validate

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_REFUSED = 1  # nothing was changed (bad input, refused, not ready)
EXIT_NO_CONNECT = 2  # verify could not watch the node
EXIT_NOT_IN_FORCE = 3  # files changed, but the broker was not reloaded: not in force yet

#: Issue fields that are not inventory fields, and their catalogue keys
PSEUDO_FIELDS = {"(row)": "f_row", "(file)": "f_file", "(header)": "f_header"}


def format_issue(m: Messages, issue: Issue) -> str:
    """One problem as 'file:line: field: message' in the chosen language."""
    field = m(PSEUDO_FIELDS[issue.field]) if issue.field in PSEUDO_FIELDS else issue.field
    params = {k: m(v) if isinstance(v, str) and k in ("delimiter", "encoding") else v
              for k, v in issue.params.items()}
    where = f"{issue.file}:{issue.line}" if issue.line else issue.file
    return f"{where}: {field}: {m(issue.code, **params)}"


def load_valid_inventory(m: Messages, path: Path) -> Inventory | None:
    """Validate an inventory, print what was found about its files and every problem."""
    raw = load_inventory(path)
    for note in raw.notes:
        print(format_issue(m, note))
    inv, issues = validate(raw)
    for issue in issues:
        print(format_issue(m, issue))
    if inv is None:
        print(m("inventory_errors", count=len(issues)))
    return inv


def deployment(a: argparse.Namespace, *, full: bool = False) -> Deployment:
    """The deployment of -d / $KOTANET_DEPLOYMENT; with full=True a field kit is refused."""
    dep = Deployment(a.deployment)
    if not dep.exists():
        raise DeploymentError("no_deployment", dir=dep.root.resolve())
    if full and dep.is_fieldkit:
        raise DeploymentError("fieldkit_not_here", cmd=a.cmd, dir=dep.root)
    return dep


def node_entry(dep: Deployment, node: str) -> dict[str, Any]:
    """The node's manifest entry; a refusal that names the command that adds it."""
    entry = load_manifest(dep)["nodes"].get(node)
    if entry is None:
        if dep.is_fieldkit:
            raise DeploymentError("fieldkit_unknown_node", node=node, dir=dep.root)
        raise DeploymentError("unknown_node", node=node, path=dep.manifest_path)
    return dict(entry)


def reload_result(m: Messages, dep: Deployment, note: str, pid_file: str | None) -> int:
    """Print whether the broker was reloaded; EXIT_OK if so, else EXIT_NOT_IN_FORCE."""
    if note.startswith(RELOADED_PREFIX):
        print(m("broker_reloaded", pid=note.removeprefix(RELOADED_PREFIX)))
        return EXIT_OK
    files = pid_file or ", ".join(DEFAULT_PID_FILES)
    print(m("broker_not_reloaded", files=files, dir=dep.broker_dir))
    return EXIT_NOT_IN_FORCE


def ask(m: Messages, key: str, expected: str, **params: object) -> bool:
    """Ask the technician to type `expected` to go on; False on anything else or no input."""
    sys.stdout.write(m(key, expected=expected, **params) + " ")
    sys.stdout.flush()
    try:
        answer = sys.stdin.readline()
    except (OSError, ValueError, AttributeError):  # no terminal (cron, captured tests)
        answer = ""
    if not answer:
        print()
    return answer.strip() == expected
