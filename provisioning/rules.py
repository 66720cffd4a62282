"""Validate raw inventory records: report every problem at once, or return a typed inventory."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from protocol.topics import is_valid_id
from provisioning.inventory import GPIO_FIELDS, Issue, RawInventory, Record
from provisioning.model import Inventory, Node, Site, Uplink
from provisioning.radio import BOARDS, GPIO_RANGE, channel_problem

SITE_FIELDS = {"id", "name", "kind", "lat", "lon", "capacity_down_kbps", "capacity_up_kbps",
               "upstream"}
NODE_FIELDS = {"id", "site", "board", "uplinks", "wifi", "lan_subnet", "gpio", "allow_private"}
WIFI_FIELDS = {"ssid", "passphrase", "open", "channel"}
UPLINK_KINDS = ("ethernet", "lte", "wifi", "other")
RESERVED_USERS = frozenset({"central", "verifier", "kt-test"})
_IFNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}$")
#: Indonesia's bounding box; a point outside is a typo or swapped lat/lon.
LAT_RANGE, LON_RANGE = (-11.5, 6.5), (94.5, 141.5)


class _Checker:
    """Collects issues for one record while converting its fields."""

    def __init__(self, rec: Record, issues: list[Issue]) -> None:
        self.rec, self.issues = rec, issues

    def err(self, path: str, code: str, **params: Any) -> None:
        self.issues.append(Issue(self.rec.file, self.rec.line_of(path), path, code, params))

    def get(self, data: dict[str, Any], path: str, key: str, required: bool = True) -> Any:
        value = data.get(key)
        if value is None or value == "":
            if required:
                self.err(path, "e_missing")
            return None
        return value

    def integer(self, data: dict[str, Any], path: str, key: str, lo: int, hi: int,
                required: bool = True) -> int | None:
        value = self.get(data, path, key, required)
        if value is None:
            return None
        try:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            number = int(value)
        except (TypeError, ValueError):
            self.err(path, "e_not_int", value=value)
            return None
        if not lo <= number <= hi:
            self.err(path, "e_range", value=number, lo=lo, hi=hi)
            return None
        return number

    def ident(self, data: dict[str, Any], path: str, key: str) -> str | None:
        value = self.get(data, path, key)
        if value is None:
            return None
        if not is_valid_id(str(value)):
            self.err(path, "e_bad_id", value=value)
            return None
        return str(value)

    def unknown(self, data: dict[str, Any], allowed: set[str], prefix: str = "") -> None:
        for key in data:
            if key not in allowed:
                self.err(f"{prefix}{key}", "e_unknown_field")


def _site(rec: Record, issues: list[Issue]) -> Site | None:
    c, d, n = _Checker(rec, issues), rec.data, len(issues)
    c.unknown(d, SITE_FIELDS)
    sid, upstream = c.ident(d, "id", "id"), c.ident(d, "upstream", "upstream")
    name = c.get(d, "name", "name")
    kind = c.get(d, "kind", "kind")
    if kind is not None and kind not in ("park", "office"):
        c.err("kind", "e_choice", value=kind, choices="park, office")
    coords: list[float] = []
    for key, (lo, hi), world in (("lat", LAT_RANGE, 90), ("lon", LON_RANGE, 180)):
        value = c.get(d, key, key)
        try:
            number = float(value) if value is not None else None
        except (TypeError, ValueError):
            c.err(key, "e_not_number", value=value)
            continue
        if number is None:
            continue
        if not -world <= number <= world:
            c.err(key, "e_range", value=number, lo=-world, hi=world)
        elif not lo <= number <= hi:
            c.err(key, "e_coords_outside", value=number, lo=lo, hi=hi)
        coords.append(number)
    down = c.integer(d, "capacity_down_kbps", "capacity_down_kbps", 64, 10_000_000)
    up = c.integer(d, "capacity_up_kbps", "capacity_up_kbps", 64, 10_000_000)
    if len(issues) > n or sid is None or down is None or up is None or upstream is None:
        return None
    return Site(sid, str(name), str(kind), coords[0], coords[1], down, up, upstream)


def _boolish(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return {"true": True, "yes": True, "ya": True, "1": True,
            "false": False, "no": False, "tidak": False, "0": False}.get(text)


def _uplinks(c: _Checker, raw: Any) -> list[Uplink]:
    if not isinstance(raw, list) or not raw:
        c.err("uplinks", "e_uplinks_missing")
        return []
    out: list[Uplink] = []
    names: set[str] = set()
    ifaces: set[str] = set()
    for i, item in enumerate(raw):
        p = f"uplinks[{i}]"
        if not isinstance(item, dict):
            c.err(p, "e_malformed_row")
            continue
        c.unknown(item, {"name", "iface", "kind", "priority", "gateway"}, f"{p}.")
        name = c.ident(item, f"{p}.name", "name")
        iface = c.get(item, f"{p}.iface", "iface")
        kind = str(item.get("kind") or "ethernet")
        prio = c.integer(item, f"{p}.priority", "priority", 0, 1000, required=False) or 0
        gw = c.get(item, f"{p}.gateway", "gateway", required=False)
        if name in names:
            c.err(f"{p}.name", "e_duplicate", value=name)
        if iface is not None and not _IFNAME.match(str(iface)):
            c.err(f"{p}.iface", "e_bad_iface", value=iface)
        elif iface in ifaces:
            c.err(f"{p}.iface", "e_duplicate", value=iface)
        if kind not in UPLINK_KINDS:
            c.err(f"{p}.kind", "e_choice", value=kind, choices=", ".join(UPLINK_KINDS))
        if gw is not None:
            try:
                ipaddress.IPv4Address(str(gw))
            except ValueError:
                c.err(f"{p}.gateway", "e_bad_ip", value=gw)
                gw = None
        if name is not None and iface is not None:
            names.add(name)
            ifaces.add(str(iface))
            out.append(Uplink(name, str(iface), kind, prio, None if gw is None else str(gw)))
    return out


def _allow_private(c: _Checker, raw: Any) -> list[ipaddress.IPv4Network]:
    """Private destinations the LAN may reach: a YAML list, or CIDRs separated by spaces/commas."""
    if raw in (None, ""):
        return []
    items = raw if isinstance(raw, list) else str(raw).replace(",", " ").replace(";", " ").split()
    nets: list[ipaddress.IPv4Network] = []
    for i, item in enumerate(items):
        try:
            nets.append(ipaddress.IPv4Network(str(item), strict=True))
        except ValueError:
            c.err(f"allow_private[{i}]", "e_bad_subnet", value=item)
    return nets


def _gpio(c: _Checker, raw: Any) -> dict[str, int | None]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        c.err("gpio", "e_malformed_row")
        return {}
    c.unknown(raw, set(GPIO_FIELDS), "gpio.")
    pins: dict[str, int | None] = {}
    used: dict[int, str] = {}
    for key in GPIO_FIELDS:
        pin = c.integer(raw, f"gpio.{key}", key, GPIO_RANGE.start, GPIO_RANGE.stop - 1,
                        required=False)
        if pin is not None and pin in used:
            c.err(f"gpio.{key}", "e_gpio_conflict", pin=pin, other=used[pin])
        elif pin is not None:
            used[pin] = key
        pins[key] = pin
    return pins


def _wifi(c: _Checker, raw: Any, site: Site | None, board: str | None) -> tuple[str, str | None, int] | None:
    if not isinstance(raw, dict):
        c.err("wifi", "e_missing")
        return None
    c.unknown(raw, WIFI_FIELDS, "wifi.")
    ssid = c.get(raw, "wifi.ssid", "ssid")
    if ssid is not None and not 1 <= len(str(ssid).encode()) <= 32:
        c.err("wifi.ssid", "e_ssid_len", bytes=len(str(ssid).encode()))
    elif ssid is not None and any(ord(ch) < 32 or ord(ch) == 127 for ch in str(ssid)):
        c.err("wifi.ssid", "e_ssid_chars")  # would inject lines into hostapd.conf
    is_open = _boolish(raw.get("open", False))
    if is_open is None:
        c.err("wifi.open", "e_not_bool", value=raw.get("open"))
    pw = raw.get("passphrase")
    pw = None if pw in (None, "") else str(pw)
    if is_open and site is not None and site.kind != "park":
        c.err("wifi.open", "e_open_office")
    if is_open and pw is not None:
        c.err("wifi.passphrase", "e_open_with_pass")
    if not is_open and pw is None:
        c.err("wifi.passphrase", "e_missing")
    if pw is not None and (not 8 <= len(pw) <= 63 or not all(32 <= ord(ch) < 127 for ch in pw)):
        c.err("wifi.passphrase", "e_wpa_len", length=len(pw))
    channel = c.integer(raw, "wifi.channel", "channel", 1, 196)
    if channel is not None:
        problem = channel_problem(channel, site is not None and site.kind == "park",
                                  BOARDS.get(board or ""))
        if problem:
            c.err("wifi.channel", problem, value=channel, board=board)
    if ssid is None or channel is None:
        return None
    return str(ssid), None if is_open else pw, channel


def validate(raw: RawInventory) -> tuple[Inventory | None, list[Issue]]:
    """Check everything; return (inventory, []) or (None, every issue sorted by file and line)."""
    issues = list(raw.issues)
    sites: dict[str, Site] = {}
    seen_sites: set[str] = set()
    for rec in raw.sites:
        site = _site(rec, issues)
        sid = str(rec.data.get("id"))
        if sid in seen_sites:
            issues.append(Issue(rec.file, rec.line_of("id"), "id", "e_duplicate", {"value": sid}))
        elif site is not None:
            sites[site.id] = site
        seen_sites.add(sid)
    site_ids = {str(r.data.get("id")) for r in raw.sites}
    nodes: dict[str, Node] = {}
    seen_ids: set[str] = set()
    subnets: list[tuple[ipaddress.IPv4Network, str]] = []
    for rec in raw.nodes:
        c, d, n = _Checker(rec, issues), rec.data, len(issues)
        c.unknown(d, NODE_FIELDS)
        nid = c.ident(d, "id", "id")
        if nid in seen_ids:
            c.err("id", "e_duplicate", value=nid)
        elif nid in RESERVED_USERS:
            c.err("id", "e_reserved_id", value=nid)
        if nid:
            seen_ids.add(nid)
        sid = c.get(d, "site", "site")
        if sid is not None and str(sid) not in site_ids:
            c.err("site", "e_unknown_site", value=sid)
        raw_board = c.get(d, "board", "board")
        board = None if raw_board is None else str(raw_board)  # any YAML value: a list too
        if board is not None and board not in BOARDS:
            c.err("board", "e_unknown_board", value=raw_board, choices=", ".join(BOARDS))
        site = sites.get(str(sid))
        uplinks = _uplinks(c, d.get("uplinks"))
        wifi = _wifi(c, d.get("wifi"), site, board)
        net = None
        text = c.get(d, "lan_subnet", "lan_subnet")
        if text is not None:
            try:
                net = ipaddress.IPv4Network(str(text), strict=True)
                if not net.is_private or not 16 <= net.prefixlen <= 29:
                    c.err("lan_subnet", "e_subnet_kind", value=text)
                    net = None
            except ValueError:
                c.err("lan_subnet", "e_bad_subnet", value=text)
        if net is not None:
            for other, owner in subnets:
                if net.overlaps(other):
                    c.err("lan_subnet", "e_subnet_overlap", value=str(net), other=str(other),
                          node=owner)
                    break
            subnets.append((net, str(nid)))
        gpio = _gpio(c, d.get("gpio"))
        allow = _allow_private(c, d.get("allow_private"))
        if len(issues) == n and nid and site and wifi and net and board:
            nodes[nid] = Node(nid, site, board, uplinks, *wifi, net, gpio, allow)
    if issues:
        return None, sorted(issues, key=lambda i: (i.file, i.line, i.field))
    return Inventory(sites, nodes), []
