"""Render the firmware_configs/ templates ({{ name }} placeholders) for one node."""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path

from provisioning.model import Node
from provisioning.radio import hw_mode

TEMPLATE_DIR = Path(os.environ.get("KOTANET_TEMPLATES",
                                   Path(__file__).resolve().parent.parent / "firmware_configs"))
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
LAN_IFACE = "br0"
WIFI_IFACE = "wlan0"
DNS_SERVERS = ("1.1.1.1", "8.8.8.8")
#: Never forwarded from the public LAN (RFC 1918, CGNAT shared space, link-local, loopback);
#: a node's inventory `allow_private` list makes exceptions.
BLOCKED_V4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
              "169.254.0.0/16", "127.0.0.0/8")
SSH_RATE, SSH_BURST = "6/minute", 6


class TemplateError(KeyError):
    """A template uses a placeholder that was not given a value."""


def render(name: str, values: dict[str, object]) -> str:
    """Fill one template from firmware_configs/; every placeholder must have a value."""
    text = (TEMPLATE_DIR / name).read_text(encoding="utf-8")

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise TemplateError(f"{name}: no value for {{{{ {m.group(1)} }}}}")
        return str(values[m.group(1)])

    return _PLACEHOLDER.sub(sub, text)


def lan_plan(net: ipaddress.IPv4Network) -> dict[str, str]:
    """The node takes the first host address; DHCP leases from .10 (or the next address on
    tiny networks) to the last host."""
    first, last = net.network_address + 1, net.broadcast_address - 1
    start = first + 9 if net.prefixlen <= 27 else first + 1
    return {"lan_ip": str(first), "dhcp_start": str(start), "dhcp_end": str(last),
            "netmask": str(net.netmask), "prefixlen": str(net.prefixlen)}


def firewall_sets(node: Node) -> dict[str, object]:
    """nftables set elements: blocked destinations (private ranges + uplink gateways), allowed."""
    nets = [ipaddress.IPv4Network(n) for n in BLOCKED_V4]
    nets += [ipaddress.IPv4Network(f"{u.gateway}/32") for u in node.uplinks if u.gateway]
    blocked = ", ".join(str(n) for n in ipaddress.collapse_addresses(nets))
    allowed = ", ".join(str(n) for n in ipaddress.collapse_addresses(node.allow_private))
    return {"blocked_v4": blocked,
            "allowed_v4_elements": f"\t\telements = {{ {allowed} }}" if allowed else "",
            "ssh_rate": SSH_RATE, "ssh_burst": SSH_BURST}


def node_files(node: Node, *, agent_bin: str = "/usr/bin/kotanet-agent") -> dict[str, str]:
    """Every generated config of one node, keyed by its path on the node's root file system."""
    plan = lan_plan(node.lan_subnet)
    is_park = node.site.kind == "park"
    leases = max(4, node.lan_subnet.num_addresses - 12)
    base: dict[str, object] = {
        "node_id": node.id, "lan_iface": LAN_IFACE, "wifi_iface": WIFI_IFACE,
        "lan_subnet": str(node.lan_subnet), "max_sta": min(250, leases), **plan,
    }
    if node.passphrase is None:
        security = "# open network: the openNDS captive portal controls access\nwpa=0"
    else:
        security = ("wpa=2\nwpa_key_mgmt=WPA-PSK\nrsn_pairwise=CCMP\n"
                    f"wpa_passphrase={node.passphrase}")
    mode = hw_mode(node.channel)
    files = {
        "etc/hostapd/hostapd.conf": render("hostapd.conf.tmpl", {
            **base, "ssid": node.ssid, "hw_mode": mode, "channel": node.channel,
            "ac_line": "ieee80211ac=1" if mode == "a" else "# 2.4 GHz: 802.11n only",
            "security": security}),
        "etc/dnsmasq.d/kotanet.conf": render("dnsmasq.conf.tmpl", {
            **base, "lease": "1h" if is_park else "12h", "lease_max": leases,
            "dns_servers": "\n".join(f"server={s}" for s in DNS_SERVERS)}),
        "etc/nftables.conf": render("nftables.conf.tmpl", {
            **base, **firewall_sets(node),
            "uplink_ifaces": ", ".join(f'"{u.iface}"' for u in node.uplinks),
            "uplink_ifaces_text": " ".join(u.iface for u in node.uplinks)}),
        "etc/sysctl.d/90-kotanet.conf": render("sysctl.conf.tmpl", {"conntrack_max": 16384}),
        "etc/systemd/journald.conf.d/90-kotanet.conf": render(
            "journald.conf.tmpl", {"runtime_max_use": "32M"}),
        "etc/systemd/system/kotanet-agent.service": render(
            "kotanet-agent.service.tmpl", {**base, "agent_bin": agent_bin, "watchdog_s": 60}),
        "etc/systemd/system/kotanet-enroll.service": render(
            "kotanet-enroll.service.tmpl", {**base, "agent_bin": agent_bin}),
    }
    if is_park:
        files["etc/config/opennds"] = render("opennds.tmpl", {
            **base, "gateway_name": node.ssid.replace("'", ""), "session_min": 360})
    return files
