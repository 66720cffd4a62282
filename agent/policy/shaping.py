"""Pure shaping plan: throttle params (the protocol's contract) to a desired state, HTB
classes, diff of kernel state against it."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from protocol.params import MAX_KBPS, MIN_KBPS, RATE_KEYS, ParamsError, SetThrottle, validate_params

ROOT, TOTAL, DEFAULT = 1, 1, 2  # qdisc 1:, class 1:1 (node total), class 1:2 (unclassified)
FIRST_CLIENT, LAST_CLIENT = 0x100, 0xFFE  # client class minors (= u32 node ids)


@dataclass(frozen=True)
class Desired:
    """A throttle the node should enforce (None = no limit in that direction)."""

    version: int
    down_kbps: int | None = None
    up_kbps: int | None = None
    per_client_down_kbps: int | None = None
    per_client_up_kbps: int | None = None
    lease_s: float | None = None

    def same_limits(self, other: Desired | None) -> bool:
        """True when ``other`` enforces exactly the same rates."""
        return other is not None and all(getattr(self, k) == getattr(other, k) for k in RATE_KEYS)


def validate_set_throttle(params: Mapping[str, Any], version: int) -> Desired:
    """set_throttle params checked by the protocol's one contract (raises its ParamsError,
    code ``bad_params``, naming the field), as the throttle to enforce."""
    p = validate_params("set_throttle", params)
    if not isinstance(p, SetThrottle):  # validate_params returns the kind's model
        raise ParamsError(f"not set_throttle params: {type(p).__name__}")
    return Desired(version, p.down_kbps, p.up_kbps, p.per_client_down_kbps,
                   p.per_client_up_kbps, None if p.lease_s is None else float(p.lease_s))


def client_ips(raw: Iterable[str]) -> list[str]:
    """Distinct valid IPv4 client addresses, sorted (others are shaped by the default class)."""
    out: set[str] = set()
    for item in raw:
        try:
            addr = ipaddress.ip_address(item.strip())
        except ValueError:
            continue
        if addr.version == 4:
            out.add(str(addr))
    return sorted(out, key=lambda s: int(ipaddress.IPv4Address(s)))


@dataclass(frozen=True)
class HtbClass:
    """One HTB class under 1:1 (rates in kbit/s)."""

    rate: int
    ceil: int


@dataclass(frozen=True)
class DirPlan:
    """Desired HTB tree of one device: total, default class and one class per client IP."""

    total: int
    default: HtbClass
    clients: Mapping[str, tuple[int, HtbClass]] = field(default_factory=dict)  # ip -> (minor, cls)

    def classes(self) -> dict[int, tuple[int, HtbClass]]:
        """Every class minor -> (parent minor, class), root class included."""
        out = {TOTAL: (0, HtbClass(self.total, self.total)), DEFAULT: (TOTAL, self.default)}
        for minor, cls in self.clients.values():
            out[minor] = (TOTAL, cls)
        return out


def plan_direction(total: int | None, per_client: int | None, clients: Sequence[str],
                   existing: Mapping[str, int]) -> DirPlan | None:
    """Plan one direction; ``existing`` (ip -> minor) keeps clients in their current classes."""
    if total is None and per_client is None:
        return None
    node_total = total if total is not None else MAX_KBPS
    ips = list(clients) if per_client is not None else []
    share = max(MIN_KBPS, node_total // (len(ips) + 1))
    default = HtbClass(min(share, node_total), node_total)
    if not ips or per_client is None:
        return DirPlan(node_total, default)
    ceil = min(per_client, node_total)
    cls = HtbClass(min(share, ceil), ceil)
    used = {m for ip, m in existing.items() if ip in ips and FIRST_CLIENT <= m <= LAST_CLIENT}
    free = (m for m in range(FIRST_CLIENT, LAST_CLIENT + 1) if m not in used)
    out: dict[str, tuple[int, HtbClass]] = {}
    for ip in ips:
        minor = existing.get(ip)
        if minor is None or minor not in used:
            minor = next(free, None)
            if minor is None:
                break  # more clients than class ids: the rest share the default class
        used.add(minor)
        out[ip] = (minor, cls)
    return DirPlan(node_total, default, out)


@dataclass
class DevState:
    """What the kernel has on one device, as far as our shaping is concerned."""

    root_kind: str | None = None  # kind of the root qdisc, None = kernel default
    root_ours: bool = False  # htb 1: default 2
    classes: dict[int, tuple[int, HtbClass]] = field(default_factory=dict)
    leaves: dict[int, str] = field(default_factory=dict)  # class minor -> leaf spec (leaf_spec)
    filters: dict[str, tuple[int, int]] = field(default_factory=dict)  # ip -> (node id, flow minor)
    stray_filters: list[int] = field(default_factory=list)  # our-prio node ids we don't understand
    redirect: bool = False  # ingress -> mirred -> IFB present (LAN device only)
    ingress: bool = False  # an ingress qdisc exists (LAN device only)

    def client_minors(self) -> dict[str, int]:
        """ip -> class minor of the existing client filters."""
        return {ip: flow for ip, (_, flow) in self.filters.items()}


def _close(a: int, b: int) -> bool:
    return abs(a - b) <= max(1, b // 500)  # tc prints >= 1 Gbit/s rounded to 0.1 %


def same_class(a: HtbClass, b: HtbClass) -> bool:
    """Equal up to tc's display rounding."""
    return _close(a.rate, b.rate) and _close(a.ceil, b.ceil)


@dataclass
class ShapingKernelState:
    """Read-back of both shaping devices: the LAN side (download) and the IFB (upload)."""

    lan: DevState = field(default_factory=DevState)
    ifb: DevState = field(default_factory=DevState)


Op = tuple[str, ...]  # abstract operation, rendered to tc syntax by the actuator
Device = Literal["lan", "ifb"]  # which shaping device an operation is for
DevOp = tuple[Device, Op]  # one operation on one device, in the order it must run


def leaf_spec(kind: str, ceil_kbit: int) -> str:
    """Leaf qdisc of a class; a pfifo holds ~300 ms at the class ceiling (32-1000 packets)."""
    if kind != "pfifo":
        return kind
    return f"pfifo:{min(1000, max(32, ceil_kbit // 40))}"


def diff(state: DevState, plan: DirPlan | None, leaf: str) -> list[Op]:
    """Operations turning ``state`` into ``plan`` (empty when already there)."""
    if plan is None:
        return [("del_root",)] if state.root_ours or state.classes else []
    ops: list[Op] = []
    if not state.root_ours:
        if state.root_kind is not None:
            ops.append(("del_root",))
        state = DevState()
        ops.append(("add_root",))
    want = plan.classes()
    want_filters = {ip: m for ip, (m, _) in plan.clients.items()}
    for ip, (node, flow) in sorted(state.filters.items()):
        if want_filters.get(ip) != flow or node != flow:
            ops.append(("del_filter", str(node)))
    ops.extend(("del_filter", str(node)) for node in state.stray_filters)
    for minor in sorted(set(state.classes) - set(want), reverse=True):
        ops.append(("del_class", str(minor)))
    for minor, (parent, cls) in sorted(want.items()):
        have = state.classes.get(minor)
        if have is None:
            ops.append(("add_class", str(minor), str(parent), str(cls.rate), str(cls.ceil)))
        elif have[0] != parent:
            ops.append(("del_class", str(minor)))
            ops.append(("add_class", str(minor), str(parent), str(cls.rate), str(cls.ceil)))
        elif not same_class(have[1], cls):
            ops.append(("change_class", str(minor), str(parent), str(cls.rate), str(cls.ceil)))
    deleted = {o[1] for o in ops if o[0] == "del_class"}
    for minor, (_, cls) in sorted(want.items()):
        spec = leaf_spec(leaf, cls.ceil)
        if minor != TOTAL and (state.leaves.get(minor) != spec or str(minor) in deleted):
            ops.append(("leaf", str(minor), spec))
    for ip, minor in sorted(want_filters.items(), key=lambda kv: kv[1]):
        if state.filters.get(ip) != (minor, minor):
            ops.append(("add_filter", str(minor), ip))
    return ops


def redirect_ops(state: DevState, want: bool) -> list[Op]:
    """Operations adding or removing the LAN ingress -> IFB redirect."""
    if want and not state.redirect:
        ops: list[Op] = [] if state.ingress else [("add_ingress",)]
        return [*ops, ("add_redirect",)]
    if not want and state.ingress:
        return [("del_ingress",)]  # our redirect is the only ingress user on the LAN device
    return []
