"""The node firewall as rendered: private destinations blocked (with per-node exceptions from the
inventory), IPv6 from the LAN not forwarded, SSH only on uplinks and rate-limited; `nft -c`
accepts it. Real packets through it: tests/netns/test_nat_isolation.py."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns.nsutil import Lab
from provhelp import SAMPLE

from provisioning.inventory import Issue, load_inventory
from provisioning.model import Inventory
from provisioning.render import node_files
from provisioning.rules import validate

OFFICE_ALLOW = "    allow_private: [10.50.0.0/16, 192.168.77.0/24]\n"


def _inventory(tmp_path: Path, extra: str, node: str = "bupati-01",
               replace: tuple[str, str] = ("", "")) -> tuple[Inventory | None, list[Issue]]:
    text = SAMPLE.read_text().replace(*replace) if replace[0] else SAMPLE.read_text()
    marker = f"  - id: {node}\n"
    assert marker in text
    path = tmp_path / "inv.yaml"
    path.write_text(text.replace(marker, marker + extra))
    return validate(load_inventory(path))


def _nft(inv: Inventory, node: str) -> str:
    return node_files(inv.nodes[node])["etc/nftables.conf"]


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    lab = Lab("ktf")
    lab.add("chk")
    yield lab
    lab.close()


def test_private_ranges_and_uplink_gateways_are_blocked(tmp_path: Path) -> None:
    # a modem on a public address: its admin page is blocked too
    inv, issues = _inventory(tmp_path, "", replace=("gateway: 192.168.100.1", "gateway: 203.0.113.1"))
    assert inv is not None, issues
    text = _nft(inv, "tks-01")
    blocked = text.split("set blocked4")[1].split("}")[0]
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                "169.254.0.0/16", "127.0.0.0/8", "203.0.113.1/32"):
        assert net in blocked
    fwd = text.split("chain forward")[1]
    assert fwd.index("@blocked4 drop") < fwd.index('oifname @uplinks ip saddr 10.20.1.0/24 accept')
    assert 'iifname "br0" meta nfproto ipv6 drop' in fwd
    assert "elements" not in text.split("set allowed4")[1].split("}")[0], "no exceptions by default"


def test_ssh_only_on_uplinks_and_rate_limited(tmp_path: Path) -> None:
    inv, _ = _inventory(tmp_path, "")
    assert inv is not None
    ssh = [ln.strip() for ln in _nft(inv, "tks-01").splitlines() if "dport 22" in ln]
    assert ssh and all(ln.startswith("iifname @uplinks") and "limit rate" in ln for ln in ssh)


def test_allow_private_from_yaml_and_csv(tmp_path: Path) -> None:
    inv, issues = _inventory(tmp_path, OFFICE_ALLOW)
    assert inv is not None, issues
    assert [str(n) for n in inv.nodes["bupati-01"].allow_private] == ["10.50.0.0/16",
                                                                       "192.168.77.0/24"]
    assert "elements = { 10.50.0.0/16, 192.168.77.0/24 }" in _nft(inv, "bupati-01")
    assert inv.nodes["tks-01"].allow_private == []
    csv_dir = tmp_path / "csv"
    shutil.copytree(SAMPLE.parent / "csv", csv_dir)
    nodes = (csv_dir / "nodes.csv").read_text().splitlines()
    nodes[0] += ",allow_private"
    nodes[1:] = [ln + ("," if not ln.strip() or ln.startswith("#") else ",10.50.0.0/16 10.60.0.0/16")
                 for ln in nodes[1:]]
    (csv_dir / "nodes.csv").write_text("\n".join(nodes) + "\n")
    inv2, issues2 = validate(load_inventory(csv_dir))
    assert inv2 is not None, issues2
    first = sorted(inv2.nodes)[0]
    assert [str(n) for n in inv2.nodes[first].allow_private] == ["10.50.0.0/16", "10.60.0.0/16"]


def test_bad_allow_private_is_reported_with_line(tmp_path: Path) -> None:
    inv, issues = _inventory(tmp_path, "    allow_private: [10.50.0.1/16, intranet]\n")
    assert inv is None
    found = {(i.field, i.code) for i in issues}
    assert found == {("allow_private[0]", "e_bad_subnet"), ("allow_private[1]", "e_bad_subnet")}
    assert all(i.line > 1 for i in issues)


@pytest.mark.netns
def test_nft_checks_ruleset_with_exceptions(tmp_path: Path, lab: Lab) -> None:
    inv, _ = _inventory(tmp_path, OFFICE_ALLOW)
    assert inv is not None
    conf = tmp_path / "nftables.conf"
    conf.write_text(_nft(inv, "bupati-01"))
    proc = lab.ns["chk"].run("nft", "-c", "-f", str(conf), check=False)
    assert proc.returncode == 0, proc.stderr
