"""Write a node's first-boot seed to a mounted Raspberry Pi OS boot partition.

OS detection rule (``--os`` overrides it):
  * ``user-data``, ``meta-data`` or ``network-config`` present, or ``issue.txt`` naming trixie or
    later -> cloud-init NoCloud (Raspberry Pi OS Trixie images from 2 Oct 2025 ship these files);
  * otherwise ``cmdline.txt`` present -> Bookworm: ``custom.toml`` (read by raspberrypi-sys-mods
    firstboot/init_config) plus ``kotanet/`` files next to it;
  * neither -> not a boot partition: refuse.
The only secret written is the one-time enrolment token.

With a deployment apt repository (``DIR/apt``, provisioning.aptrepo) a cloud-init card also
carries it as ``kotanet/apt`` and ``kotanet/firstboot.sh``, which cloud-init runs before the
enrolment unit: the agent is installed from the card, with no internet.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from provisioning.agenttoml import dump_toml
from provisioning.aptrepo import REPO_DIR, copy_repo, has_repo
from provisioning.deployment import Deployment
from provisioning.render import LAN_IFACE, TEMPLATE_DIR, render

log = logging.getLogger(__name__)

CLOUD_INIT, CUSTOM_TOML = "cloud-init", "custom-toml"
#: where the boot partition is mounted on the node (Raspberry Pi OS Bookworm and later)
CARD_DIR = "/boot/firmware/kotanet"
FIRSTBOOT = "firstboot.sh"
SEED_DIR = "/etc/kotanet/seed"  # cloud-init's enrolment inputs on the node
LATER_THAN_BOOKWORM = ("trixie", "forky", "duke")
TECH_USER = "teknisi"


class SeedError(RuntimeError):
    """The boot partition cannot be seeded."""


def detect_os(boot: Path) -> str | None:
    """cloud-init, custom-toml, or None if this does not look like a boot partition."""
    if any((boot / f).exists() for f in ("user-data", "meta-data", "network-config")):
        return CLOUD_INIT
    issue = boot / "issue.txt"
    if issue.is_file() and any(w in issue.read_text(errors="replace").lower()
                               for w in LATER_THAN_BOOKWORM):
        return CLOUD_INIT
    if (boot / "cmdline.txt").is_file():
        return CUSTOM_TOML
    return None


def network_config(agent: dict[str, Any], lan: str) -> dict[str, Any]:
    """Netplan-style v2 network-config: DHCP on Ethernet uplinks, the LAN bridge static."""
    ethernets: dict[str, Any] = {}
    for up in agent.get("uplinks", []):
        if up.get("kind", "ethernet") == "ethernet":
            ethernets[up["iface"]] = {"dhcp4": True, "optional": True,
                                      "dhcp4-overrides": {"route-metric": 100 + int(up["priority"])}}
    return {"network": {"version": 2, "ethernets": ethernets, "bridges": {LAN_IFACE: {
        "interfaces": [], "dhcp4": False, "addresses": [lan], "parameters": {"stp": False}}}}}


def _locked_password_hash() -> str:
    """A well-formed SHA-512 crypt string made of random characters: no password matches it,
    so password login is impossible and SSH keys are the only way in."""
    alphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    salt = "".join(secrets.choice(alphabet) for _ in range(16))
    digest = "".join(secrets.choice(alphabet) for _ in range(86))
    return f"$6${salt}${digest}"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks (readable certificates and units)."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def _yaml(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def hostname_for(node: str) -> str:
    """A valid host name for a node id ('_' and '.' become '-'; at most 63 characters)."""
    return node.replace("_", "-").replace(".", "-")[:63].strip("-") or "kotanet-node"


def _write(path: Path, text: str) -> None:
    """Replace a file on the card: removed first, so no FAT driver keeps a stale tail."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    path.write_text(text, encoding="utf-8")


def firstboot_script(dep: Deployment, node: str) -> str:
    """The card's first-boot installer (firmware_configs/kotanet-firstboot.sh.tmpl)."""
    url = dep.settings.apt_repo_url()
    return render("kotanet-firstboot.sh.tmpl", {
        "node_id": node, "apt_url": url, "apt_host": urlsplit(url).hostname or ""})


def remove_card_repo(boot: Path) -> None:
    """Remove the software of an earlier write of this card (it would be stale)."""
    shutil.rmtree(boot / "kotanet" / REPO_DIR, ignore_errors=True)
    (boot / "kotanet" / FIRSTBOOT).unlink(missing_ok=True)


def write_card_repo(dep: Deployment, node: str, boot: Path) -> int:
    """The deployment's apt repository and the first-boot installer onto the card; returns
    the number of packages (0: no repository, nothing written)."""
    if not has_repo(dep.root):
        remove_card_repo(boot)
        return 0
    count = copy_repo(dep.root, boot / "kotanet" / REPO_DIR)
    _write(boot / "kotanet" / FIRSTBOOT, firstboot_script(dep, node))
    _write(boot / "kotanet" / "ca.crt", dep.read("ca.crt").decode())  # for apt's HTTPS
    return count


def write_seed(dep: Deployment, entry: dict[str, Any], node: str, boot: Path, kind: str,
               ssh_keys: list[str], token: str) -> int:
    """Write the seed of `kind` (CLOUD_INIT or CUSTOM_TOML) with this one-time token; returns
    how many packages the card carries for the first boot (0: none, cloud-init only).

    The caller has checked that `boot` is a mounted FAT boot partition (provisioning.bootfs)."""
    if kind not in (CLOUD_INIT, CUSTOM_TOML):
        raise SeedError(f"unknown seed format {kind!r}")
    s = dep.settings
    bundle = dep.bundle(entry)
    agent = tomllib.loads((bundle / "etc/kotanet/agent.toml").read_text())
    enroll = json.dumps({"node": node, "site": entry["site"], "enroll_url": s.enroll_url,
                         "config_hash": entry["config_hash"]}, indent=2) + "\n"
    ca = dep.read("ca.crt").decode()
    enroll_unit = (bundle / "etc/systemd/system/kotanet-enroll.service").read_text()
    if kind == CLOUD_INIT:
        user_data: dict[str, Any] = yaml.safe_load((TEMPLATE_DIR / "cloud-init-user-data.yaml")
                                                   .read_text())
        tech: dict[str, Any] = {"name": TECH_USER, "groups": ["sudo", "netdev"],
                                "shell": "/bin/bash", "lock_passwd": True,
                                "sudo": "ALL=(ALL) NOPASSWD:ALL"}
        if ssh_keys:
            tech["ssh_authorized_keys"] = ssh_keys
        user_data.update(hostname=hostname_for(node), preserve_hostname=False, users=[tech])
        user_data["write_files"] = [
            # the seed's own directory: a re-run of cloud-init never touches the node's files
            {"path": f"{SEED_DIR}/enroll.token", "permissions": "0600", "content": token + "\n"},
            {"path": f"{SEED_DIR}/enroll.json", "permissions": "0644", "content": enroll},
            {"path": f"{SEED_DIR}/ca.crt", "permissions": "0644", "content": ca}]
        packages = write_card_repo(dep, node, boot)
        if not packages:  # no package brings the enrolment unit: the seed does
            user_data["write_files"].append(
                {"path": "/etc/systemd/system/kotanet-enroll.service", "permissions": "0644",
                 "content": enroll_unit})
        install = [["sh", f"{CARD_DIR}/{FIRSTBOOT}"]] if packages else []
        user_data["runcmd"] = [*install, ["systemctl", "daemon-reload"],
                               ["systemctl", "enable", "--now", "kotanet-enroll.service"]]
        _write(boot / "user-data", "#cloud-config\n" + _yaml(user_data))
        lan = f"{entry['lan_ip']}/{entry['lan_prefixlen']}"
        _write(boot / "network-config", _yaml(network_config(agent, lan)["network"]))
        _write(boot / "meta-data", _yaml(
            {"instance-id": f"kotanet-{node}-{secrets.token_hex(6)}",
             "local-hostname": hostname_for(node)}))
    else:
        custom = {"config_version": 1, "system": {"hostname": hostname_for(node)},
                  "user": {"name": TECH_USER, "password": _locked_password_hash(),
                           "password_encrypted": True},
                  "ssh": {"enabled": bool(ssh_keys), "password_authentication": False,
                          "authorized_keys": ssh_keys},
                  "locale": {"keymap": "us", "timezone": "Asia/Jakarta"}}
        _write(boot / "custom.toml", dump_toml(custom, f"# kotanet first boot for {node}"))
        _write(boot / "kotanet/enroll.token", token + "\n")
        _write(boot / "kotanet/enroll.json", enroll)
        _write(boot / "kotanet/ca.crt", ca)
        _write(boot / "kotanet/kotanet-enroll.service", enroll_unit)
        remove_card_repo(boot)  # Bookworm's python3-pydantic (1.10), paho-mqtt (1.6): too old
        packages = 0
    log.info("seed for %s written to %s (%s, %d package(s))", node, boot, kind, packages)
    return packages
