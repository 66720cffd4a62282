"""Generated node files are accepted by the real programs that will read them."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns.nsutil import Lab
from provhelp import make_deployment

from agent.config import load_config
from provisioning.deployment import Deployment

NODES = ("tks-01", "tks-02", "trs-01", "bupati-01", "kominfo-01")


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return make_deployment(tmp_path_factory.mktemp("render"))


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = Lab("ktv")
    lab.add("chk")
    yield lab
    lab.close()


def bundle(dep: Deployment, node: str) -> Path:
    return dep.root / "bundles" / "nodes" / node


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=False)


@pytest.mark.parametrize("node", NODES)
def test_dnsmasq_accepts_config(dep: Deployment, node: str) -> None:
    conf = bundle(dep, node) / "etc/dnsmasq.d/kotanet.conf"
    proc = run("dnsmasq", "--test", "-C", str(conf))
    assert proc.returncode == 0, proc.stderr
    assert "syntax check OK" in proc.stderr


def test_dnsmasq_check_catches_a_broken_line(dep: Deployment, tmp_path: Path) -> None:
    conf = (bundle(dep, "tks-01") / "etc/dnsmasq.d/kotanet.conf").read_text()
    bad = tmp_path / "bad.conf"
    bad.write_text(conf.replace("dhcp-lease-max=", "dhcp-lease-max=lots"))
    assert run("dnsmasq", "--test", "-C", str(bad)).returncode != 0


@pytest.mark.netns
@pytest.mark.parametrize("node", NODES)
def test_nft_accepts_ruleset_in_fresh_netns(dep: Deployment, lab: Lab, node: str) -> None:
    ns = lab.ns["chk"]
    conf = bundle(dep, node) / "etc/nftables.conf"
    proc = ns.run("nft", "-c", "-f", str(conf), check=False)
    assert proc.returncode == 0, proc.stderr
    text = conf.read_text()
    assert "masquerade" in text and "policy drop" in text


@pytest.mark.netns
def test_nft_ruleset_loads_and_nats_only_uplinks(dep: Deployment, lab: Lab) -> None:
    ns = lab.ns["chk"]
    ns.run("nft", "-f", str(bundle(dep, "tks-01") / "etc/nftables.conf"))
    rules = ns.run("nft", "list", "table", "ip", "kotanet_nat").stdout
    assert "ip saddr 10.20.1.0/24" in rules and "masquerade" in rules
    assert '"eth0"' in rules and '"wwan0"' in rules
    fwd = ns.run("nft", "list", "chain", "inet", "kotanet", "forward").stdout
    assert "policy drop" in fwd
    ns.run("nft", "flush", "ruleset")


@pytest.mark.netns
@pytest.mark.parametrize("node", ("tks-01", "bupati-01", "kominfo-01"))
def test_hostapd_parses_config_without_errors(dep: Deployment, lab: Lab, node: str) -> None:
    conf = bundle(dep, node) / "etc/hostapd/hostapd.conf"
    # no radio in the namespace: hostapd parses the file, then fails at the driver
    proc = lab.ns["chk"].run("hostapd", str(conf), check=False)
    assert "errors found in configuration file" not in proc.stdout + proc.stderr
    assert "Failed to initialize driver" in proc.stdout + proc.stderr
    text = conf.read_text()
    assert "country_code=ID\n" in text and "ieee80211d=1\n" in text


@pytest.mark.netns
def test_hostapd_check_catches_a_bad_passphrase(dep: Deployment, lab: Lab, tmp_path: Path) -> None:
    text = (bundle(dep, "bupati-01") / "etc/hostapd/hostapd.conf").read_text()
    bad = tmp_path / "hostapd.conf"
    bad.write_text(text.replace("wpa_passphrase=ganti-sandi-ini-2026", "wpa_passphrase=short"))
    proc = lab.ns["chk"].run("hostapd", str(bad), check=False)
    assert "errors found in configuration file" in proc.stdout + proc.stderr


@pytest.mark.parametrize("node", NODES)
def test_agent_toml_is_valid_and_hash_is_in_manifest(dep: Deployment, node: str) -> None:
    cfg = load_config(bundle(dep, node) / "etc/kotanet/agent.toml")
    manifest = json.loads(dep.manifest_path.read_text())
    assert manifest["nodes"][node]["config_hash"] == cfg.config_hash()
    assert cfg.node.id == node and cfg.mqtt.url.startswith("mqtts://")
    assert cfg.failover.enabled == (len(cfg.uplinks) > 1)


def test_secrets_are_private_and_not_in_agent_toml(dep: Deployment) -> None:
    b = bundle(dep, "bupati-01")
    pw = (b / "etc/kotanet/mqtt-password").read_text().strip()
    assert len(pw) >= 24
    assert (b / "etc/kotanet/mqtt-password").stat().st_mode & 0o077 == 0
    assert (b / "etc/hostapd/hostapd.conf").stat().st_mode & 0o077 == 0
    assert pw not in (b / "etc/kotanet/agent.toml").read_text()
    assert (dep.pki / "ca.key").stat().st_mode & 0o077 == 0
    assert (dep.pki / "signing.key").stat().st_mode & 0o077 == 0


def test_only_parks_get_a_captive_portal(dep: Deployment) -> None:
    nds = (bundle(dep, "tks-01") / "etc/config/opennds").read_text()
    assert "option gatewayinterface 'br0'" in nds
    assert not (bundle(dep, "bupati-01") / "etc/config/opennds").exists()


def test_systemd_unit_is_hardened_and_verifies(dep: Deployment, tmp_path: Path) -> None:
    unit = (bundle(dep, "tks-01") / "etc/systemd/system/kotanet-agent.service").read_text()
    for line in ("Type=notify", "WatchdogSec=60", "ProtectSystem=strict", "NoNewPrivileges=true",
                 "PrivateTmp=true", "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW",
                 "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW",
                 "ReadWritePaths=/var/lib/kotanet"):
        assert f"\n{line}\n" in unit
    copy = tmp_path / "kotanet-agent.service"
    lines = ["ExecStart=/bin/true" if ln.startswith("ExecStart=") else ln
             for ln in unit.splitlines()]
    copy.write_text("\n".join(lines) + "\n")
    proc = run("systemd-analyze", "verify", str(copy))
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


def test_sysctl_and_journald(dep: Deployment) -> None:
    sysctl = (bundle(dep, "tks-01") / "etc/sysctl.d/90-kotanet.conf").read_text()
    for line in ("net.ipv4.ip_forward = 1", "net.ipv6.conf.all.forwarding = 0",
                 "net.ipv4.conf.all.rp_filter = 2",
                 "net.ipv4.conf.all.ignore_routes_with_linkdown = 1"):
        assert line in sysctl
    journald = (bundle(dep, "tks-01") / "etc/systemd/journald.conf.d/90-kotanet.conf").read_text()
    assert "Storage=volatile" in journald and "RuntimeMaxUse=32M" in journald
