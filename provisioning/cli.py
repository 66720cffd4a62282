"""kotanet-provision: set up hotspot nodes from an inventory (see docs/field-guide.md).

Every text of the parser (descriptions, option help, examples, argparse's own "usage:" and
error messages) comes from the catalogue in the language of ``--lang`` or ``LANG``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from provisioning import commands
from provisioning.deployment import DEFAULT_INSTALL_URL, DEFAULT_NOC_URL
from provisioning.i18n import LANGS, Messages, argparse_language

RAW = argparse.RawDescriptionHelpFormatter


def _lang_of(argv: list[str]) -> str | None:
    """The --lang value in argv, read before the parser (which is built in that language)."""
    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--lang="):
            return arg.split("=", 1)[1]
    return None


def _common(p: argparse.ArgumentParser, m: Messages) -> None:
    p.add_argument("-h", "--help", action="help", help=m("h_help"))


def _parser(m: Messages) -> argparse.ArgumentParser:
    def mv(key: str) -> str:
        return m(f"mv_{key}")

    p = argparse.ArgumentParser(prog="kotanet-provision", description=m("h_prog"),
                                epilog=m("h_examples"), formatter_class=RAW, add_help=False)
    _common(p, m)
    p.add_argument("-d", "--deployment", default=os.environ.get("KOTANET_DEPLOYMENT", "."),
                   metavar=mv("dir"), help=m("h_deployment"))
    p.add_argument("--lang", choices=LANGS, help=m("h_lang"))
    p.add_argument("-v", "--verbose", action="store_true", help=m("h_verbose"))
    sub = p.add_subparsers(dest="cmd", required=True, metavar=mv("command"),
                           title=m("h_commands"))

    def add(name: str) -> argparse.ArgumentParser:
        s = sub.add_parser(name, help=m(f"h_{name}"), description=m(f"h_{name}"),
                           epilog=m(f"h_{name}_example"), formatter_class=RAW, add_help=False)
        _common(s, m)
        # -d and --lang also after the command ("verify tks-01 --lang id"); unset unless given
        s.add_argument("-d", "--deployment", default=argparse.SUPPRESS, metavar=mv("dir"),
                       help=m("h_deployment"))
        s.add_argument("--lang", choices=LANGS, default=argparse.SUPPRESS, help=m("h_lang"))
        return s

    s = add("init")
    s.add_argument("dir", type=Path, metavar=mv("dir"), help=m("h_init_dir"))
    s.add_argument("--broker-host", default="mqtt.kotimkab.go.id", metavar=mv("host"), help=m("h_broker_host"))
    s.add_argument("--broker-port", type=int, default=8883, metavar=mv("port"), help=m("h_broker_port"))
    s.add_argument("--broker-name", action="append", default=[], metavar=mv("name"), help=m("h_broker_name"))
    s.add_argument("--broker-bind", default="0.0.0.0", metavar=mv("address"), help=m("h_broker_bind"))
    s.add_argument("--broker-user", metavar=mv("user"), help=m("h_broker_user"))
    s.add_argument("--broker-etc", default="/etc/mosquitto/kotanet", metavar=mv("dir"), help=m("h_broker_etc"))
    s.add_argument("--broker-data", default="/var/lib/mosquitto", metavar=mv("dir"), help=m("h_broker_data"))
    s.add_argument("--broker-log", default="/var/log/mosquitto/mosquitto.log", metavar=mv("file"),
                   help=m("h_broker_log"))
    s.add_argument("--prefix", default="kotanet/v1", metavar=mv("prefix"), help=m("h_prefix"))
    s.add_argument("--auth", choices=("password", "cert"), default="password", help=m("h_auth"))
    s.add_argument("--noc-url", default=DEFAULT_NOC_URL, metavar=mv("url"), help=m("h_noc_url", default=DEFAULT_NOC_URL))
    s.add_argument("--install-url", default=DEFAULT_INSTALL_URL, metavar=mv("url"),
                   help=m("h_install_url", default=DEFAULT_INSTALL_URL))
    s.add_argument("--helpdesk", default="", metavar=mv("number"), help=m("h_helpdesk"))
    s.add_argument("--enroll-url", default="https://noc.kotimkab.go.id/api/v1/enroll", metavar=mv("url"),
                   help=m("h_enroll_url"))
    s.add_argument("--token-ttl", type=int, default=72 * 3600, metavar=mv("seconds"), help=m("h_token_ttl"))

    for name in ("validate", "build"):
        s = add(name)
        s.add_argument("inventory", type=Path, metavar=mv("inventory"), help=m("h_inventory"))
    s.add_argument("--out", type=Path, metavar=mv("dir"), help=m("h_build_out"))
    s.add_argument("--readmit", action="append", default=[], metavar=mv("node"), help=m("h_readmit"))
    s.add_argument("--pid-file", metavar=mv("file"), help=m("h_build_pid"))

    s = add("sdcard")
    s.add_argument("node", metavar=mv("node"), help=m("h_node"))
    s.add_argument("--boot", type=Path, required=True, metavar=mv("path"), help=m("h_boot"))
    s.add_argument("--os", choices=tuple(commands.cmd_card.OS_ALIASES), default="auto",
                   help=m("h_os"))
    way_in = s.add_mutually_exclusive_group()
    way_in.add_argument("--ssh-key", action="append", default=[], type=Path, metavar=mv("file"),
                        help=m("h_ssh_key"))
    way_in.add_argument("--no-ssh", action="store_true", help=m("h_no_ssh"))

    s = add("label")
    s.add_argument("node", metavar=mv("node"), help=m("h_node"))
    s.add_argument("--out", type=Path, default=Path("."), metavar=mv("dir"), help=m("h_label_out"))
    s.add_argument("--install-url", metavar=mv("url"), help=m("h_label_url"))
    s.add_argument("--helpdesk", metavar=mv("number"), help=m("h_label_helpdesk"))
    s.add_argument("--date", metavar=mv("date"), help=m("h_label_date"))

    s = add("fieldkit")
    s.add_argument("nodes", nargs="+", metavar=mv("node"), help=m("h_fieldkit_nodes"))
    s.add_argument("--out", type=Path, required=True, metavar=mv("dir"), help=m("h_fieldkit_out"))

    s = add("repo")
    s.add_argument("debs", nargs="+", type=Path, metavar=mv("file"), help=m("h_repo_debs"))

    s = add("verify")
    s.add_argument("node", metavar=mv("node"), help=m("h_node"))
    s.add_argument("--mqtt-url", metavar=mv("url"), help=m("h_mqtt_url"))
    s.add_argument("--timeout", type=float, default=120.0, metavar=mv("seconds"), help=m("h_timeout"))
    s.add_argument("--user", default="verifier", metavar=mv("user"), help=m("h_user"))
    s.add_argument("--password-file", type=Path, metavar=mv("file"), help=m("h_password_file"))
    s.add_argument("--ca", type=Path, metavar=mv("file"), help=m("h_ca"))

    for name in ("rotate", "revoke"):
        s = add(name)
        s.add_argument("node", metavar=mv("node"), help=m("h_node"))
        s.add_argument("--pid-file", metavar=mv("file"), help=m("h_pid_file"))
    s.add_argument("--yes", action="store_true", help=m("h_yes"))
    s = sub.choices["rotate"]
    s.add_argument("--confirm", action="store_true", help=m("h_confirm"))
    s.add_argument("--force", action="store_true", help=m("h_force"))
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the kotanet-provision console script."""
    args_in = sys.argv[1:] if argv is None else list(argv)
    m = Messages(_lang_of(args_in))
    with argparse_language(m.lang):
        args = _parser(m).parse_args(args_in)
    m = Messages(args.lang or m.lang)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    return commands.dispatch(args, m)


if __name__ == "__main__":
    sys.exit(main())
