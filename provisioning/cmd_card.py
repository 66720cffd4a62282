"""The commands a technician runs for a card and a box: sdcard, label, fieldkit."""

from __future__ import annotations

import argparse
import logging
import time

from provisioning import fieldkit as kit
from provisioning.bootfs import check_boot, read_ssh_keys
from provisioning.cmdutil import EXIT_OK, deployment, node_entry
from provisioning.deployment import Deployment, DeploymentError
from provisioning.i18n import Messages, wib, wib_date
from provisioning.label import LabelInfo, install_url, write_label
from provisioning.seed import CLOUD_INIT, CUSTOM_TOML, detect_os, write_seed

log = logging.getLogger(__name__)

OS_ALIASES = {"auto": None, "trixie": CLOUD_INIT, "bookworm": CUSTOM_TOML,
              CLOUD_INIT: CLOUD_INIT, CUSTOM_TOML: CUSTOM_TOML}
TOKEN_LOW_S = 12 * 3600  # warn when a field kit's token has less life than this


def sdcard(m: Messages, a: argparse.Namespace) -> int:
    """sdcard NODE --boot PATH (--ssh-key FILE... | --no-ssh): every check before any write."""
    dep = deployment(a)
    entry = node_entry(dep, a.node)
    if entry.get("revoked"):
        raise DeploymentError("revoked_already", node=a.node)
    if not a.ssh_key and not a.no_ssh:
        raise DeploymentError("sdcard_no_way_in", node=a.node, boot=a.boot)
    keys = read_ssh_keys(a.ssh_key)
    boot = check_boot(a.boot)
    kind = OS_ALIASES[a.os] or detect_os(boot)
    if kind is None:
        raise DeploymentError("sdcard_unknown_os", boot=a.boot)
    token, claims, written = kit.card_token(dep, a.node, str(entry["site"]))
    if a.no_ssh:
        print(m("sdcard_no_ssh_warning", node=a.node))
    if written is not None:
        print(m("fieldkit_token_reused", node=a.node, when=wib(written)))
    packages = write_seed(dep, entry, a.node, boot, kind, keys, token)
    kit.mark_written(dep, a.node)
    if kind == CUSTOM_TOML:
        print(m("sdcard_bookworm"))
    elif packages:
        print(m("sdcard_packages", count=packages))
    else:
        print(m("sdcard_no_repo"))
    print(m("sdcard_done", node=a.node, boot=a.boot, os=m(f"os_{kind.replace('-', '_')}"),
            until=wib(float(claims["exp"]))))
    if dep.is_fieldkit and float(claims["exp"]) - time.time() < TOKEN_LOW_S:
        print(m("fieldkit_token_low", node=a.node, until=wib(float(claims["exp"]))))
    return EXIT_OK


def label(m: Messages, a: argparse.Namespace) -> int:
    """label NODE [--out DIR]: SVG + PNG, Indonesian first, QR to the NOC's install check."""
    dep = deployment(a)
    entry = node_entry(dep, a.node)
    s = dep.settings
    helpdesk = a.helpdesk or s.helpdesk
    info = LabelInfo(node=a.node, site=str(entry.get("site_name") or entry["site"]),
                     ssid=str(entry.get("ssid") or ""), url=install_url(a.install_url or
                                                                        s.install_url, a.node),
                     helpdesk=helpdesk, installed=a.date or wib_date(time.time()))
    files = write_label(a.out, info)
    print(m("label_done", files=", ".join(str(f) for f in files)))
    if not helpdesk:
        print(m("label_no_helpdesk", file=dep.root / "deployment.json"))
    return EXIT_OK


def fieldkit(m: Messages, dep: Deployment, a: argparse.Namespace) -> int:
    """fieldkit NODE... --out DIR: the seeds' inputs, CA certificate and verifier password."""
    expires = kit.export(dep, list(dict.fromkeys(a.nodes)), a.out)
    print(m("fieldkit_done", nodes=", ".join(dict.fromkeys(a.nodes)), dir=a.out,
            until=wib(expires)))
    print(m("fieldkit_next", dir=a.out, node=a.nodes[0]))
    return EXIT_OK
