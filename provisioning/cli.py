"""kotanet-provision: set up hotspot nodes from an inventory (see docs/field-guide.md)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from provisioning import commands
from provisioning.deployment import DEFAULT_NOC_URL
from provisioning.i18n import LANGS

EXAMPLES = """\
examples (Sampit):
  kotanet-provision init /srv/kotanet --broker-host mqtt.kotimkab.go.id
  export KOTANET_DEPLOYMENT=/srv/kotanet
  kotanet-provision validate examples/inventory/sampit.yaml
  kotanet-provision build examples/inventory/sampit.yaml
  kotanet-provision sdcard tks-01 --boot /media/$USER/bootfs --ssh-key ~/.ssh/id_ed25519.pub
  kotanet-provision label tks-01
  kotanet-provision verify tks-01 --mqtt-url mqtts://mqtt.kotimkab.go.id:8883 --timeout 120
  kotanet-provision rotate tks-01            # then, once verify passes: rotate tks-01 --confirm
  kotanet-provision revoke tks-01 --pid-file /run/mosquitto/mosquitto.pid

Messages are in Bahasa Indonesia when LANG starts with id_ (or --lang id), else English.
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kotanet-provision", description=__doc__, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-d", "--deployment", default=os.environ.get("KOTANET_DEPLOYMENT", "."),
                   help="deployment directory made by 'init' (default: $KOTANET_DEPLOYMENT or .)")
    p.add_argument("--lang", choices=LANGS, help="language of messages (default from LANG)")
    p.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    def add(name: str, help_: str, example: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_, description=help_, epilog=f"example:\n  {example}",
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    s = add("init", "create a deployment: project CA, signing key, broker certificate and users",
            "kotanet-provision init /srv/kotanet --broker-host mqtt.kotimkab.go.id --broker-port 8883")
    s.add_argument("dir", type=Path)
    s.add_argument("--broker-host", default="mqtt.kotimkab.go.id", help="name nodes connect to")
    s.add_argument("--broker-port", type=int, default=8883)
    s.add_argument("--broker-name", action="append", default=[],
                   help="extra DNS name or IP in the broker certificate (repeatable)")
    s.add_argument("--broker-bind", default="0.0.0.0", help="address mosquitto listens on")
    s.add_argument("--broker-user", help="system user mosquitto runs as (owner of the files)")
    s.add_argument("--broker-etc", default="/etc/mosquitto/kotanet",
                   help="where DIR/broker is installed on the broker host")
    s.add_argument("--broker-data", default="/var/lib/mosquitto", help="persistence directory")
    s.add_argument("--broker-log", default="/var/log/mosquitto/mosquitto.log")
    s.add_argument("--prefix", default="kotanet/v1", help="MQTT topic prefix")
    s.add_argument("--auth", choices=("password", "cert"), default="password",
                   help="node credentials: broker password (default) or client certificate")
    s.add_argument("--noc-url", default=DEFAULT_NOC_URL,
                   help="node page URL template for labels, {node} = node id "
                        f"(default {DEFAULT_NOC_URL})")
    s.add_argument("--enroll-url", default="https://noc.kotimkab.go.id/api/v1/enroll")
    s.add_argument("--token-ttl", type=int, default=72 * 3600, help="enrolment token life (s)")

    s = add("validate", "check an inventory and list every error (file:line: field: problem)",
            "kotanet-provision validate examples/inventory/sampit.yaml")
    s.add_argument("inventory", type=Path, help="YAML file, or directory with sites.csv+nodes.csv")

    s = add("build", "write node bundles, broker password/ACL/config and the manifest",
            "kotanet-provision build examples/inventory/sampit.yaml --out /srv/kotanet/bundles")
    s.add_argument("inventory", type=Path)
    s.add_argument("--out", type=Path, help="bundle directory (default: DEPLOYMENT/bundles)")
    s.add_argument("--readmit", action="append", default=[], metavar="NODE",
                   help="give a revoked node new credentials")
    s.add_argument("--pid-file", help="mosquitto pid file to SIGHUP after writing broker files "
                   "(without it 'build' does not reload mosquitto)")

    s = add("sdcard", "write the first-boot seed (one-time enrolment token) to a boot partition",
            "kotanet-provision sdcard tks-01 --boot /media/teknisi/bootfs")
    s.add_argument("node")
    s.add_argument("--boot", type=Path, required=True, help="mounted boot (FAT) partition")
    s.add_argument("--os", choices=("auto", "cloud-init", "custom-toml", "trixie", "bookworm"),
                   default="auto", help="force the seed format (trixie=cloud-init)")
    s.add_argument("--ssh-key", action="append", default=[], type=Path,
                   help="public key file for the technician account (repeatable)")

    s = add("label", "printable label (SVG + PNG) with a QR code of the node's NOC page",
            "kotanet-provision label tks-01 --out labels/")
    s.add_argument("node")
    s.add_argument("--noc-url", help="URL template with {node} (default: from init)")
    s.add_argument("--out", type=Path, default=Path("."))

    s = add("verify", "wait for the node's birth and telemetry, print a ✓/✗ checklist",
            "kotanet-provision verify tks-01 --mqtt-url mqtts://mqtt.kotimkab.go.id:8883")
    s.add_argument("node")
    s.add_argument("--mqtt-url", required=True)
    s.add_argument("--timeout", type=float, default=120.0, help="seconds to wait (default 120)")
    s.add_argument("--user", default="verifier", help="broker user with read rights")
    s.add_argument("--password-file", type=Path,
                   help="default: DEPLOYMENT/secrets/<user>.password")
    s.add_argument("--ca", type=Path, help="CA for mqtts (default: DEPLOYMENT/pki/ca.crt)")

    for name, help_ in (("rotate", "new broker credentials without lock-out (then --confirm)"),
                        ("revoke", "remove a node's broker access now and reload mosquitto")):
        s = add(name, help_,
                f"kotanet-provision {name} tks-01 --pid-file /run/mosquitto/mosquitto.pid")
        s.add_argument("node")
        s.add_argument("--pid-file", help="mosquitto pid file to SIGHUP (default: "
                       "/run/mosquitto/mosquitto.pid or /var/run/mosquitto/mosquitto.pid; if "
                       "none exists mosquitto is NOT reloaded and the command says what to do)")
        if name == "rotate":
            s.add_argument("--confirm", action="store_true",
                           help="the node uses the new credentials: drop the old ones")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the kotanet-provision console script."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return commands.dispatch(args)


if __name__ == "__main__":
    sys.exit(main())
