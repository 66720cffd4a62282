"""Inputs, outputs and tunables of the throttling policy engine (plain frozen dataclasses)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from protocol.messages import Sample

Role = Literal["park", "office"]


@dataclass(frozen=True)
class Throttle:
    """A throttle for one node (kbit/s); per-client None = no per-client cap."""

    down_kbps: int
    up_kbps: int
    per_client_down_kbps: int | None = None
    per_client_up_kbps: int | None = None

    def params(self, lease_s: int) -> dict[str, int]:
        """set_throttle command params (protocol v1)."""
        out = {"down_kbps": self.down_kbps, "up_kbps": self.up_kbps, "lease_s": lease_s}
        if self.per_client_down_kbps is not None:
            out["per_client_down_kbps"] = self.per_client_down_kbps
        if self.per_client_up_kbps is not None:
            out["per_client_up_kbps"] = self.per_client_up_kbps
        return out


@dataclass(frozen=True)
class SiteInfo:
    """What central knows about one node's site: role, contract, upstream group, floors."""

    node: str
    site: str
    role: Role
    contract_down_kbps: int
    contract_up_kbps: int
    upstream: str  # nodes with the same upstream share one paid link
    floor_down_kbps: int = 2000
    floor_up_kbps: int = 1000
    floor_per_client_kbps: int = 512


@dataclass(frozen=True)
class Upstream:
    """A shared upstream link (the ISP circuit several sites hang off)."""

    name: str
    capacity_down_kbps: int
    capacity_up_kbps: int


@dataclass(frozen=True)
class UplinkObs:
    """Health of one uplink of one node in its latest sample."""

    name: str
    active: bool = True
    rtt_ms: float | None = None
    loss_pct: float | None = None
    rx_bps: float | None = None
    tx_bps: float | None = None


@dataclass(frozen=True)
class NodeObs:
    """Latest sample of one node as the policy sees it."""

    node: str
    ts_ms: int
    online: bool
    users: int | None = None
    uplinks: tuple[UplinkObs, ...] = ()

    @classmethod
    def from_sample(cls, node: str, sample: Sample, online: bool) -> NodeObs:
        """Build from a protocol Sample (central's latest stored sample of the node)."""
        ups = tuple(UplinkObs(u["name"], u["active"], u["rtt_ms"], u["loss_pct"], u["rx_bps"],
                              u["tx_bps"])
                    for u in sample.uplinks)
        return cls(node, sample.ts_ms, online, sample.users.total, ups)


@dataclass(frozen=True)
class ParkEvent:
    """A public event at a park: a larger share in its window (epoch ms, end exclusive)."""

    node: str
    start_ms: int
    end_ms: int
    name: str


@dataclass(frozen=True)
class Schedule:
    """Office hours in WIB (UTC+7), public holidays (ISO dates, WIB) and park events."""

    office_start_min: int = 7 * 60 + 30
    office_end_min: int = 16 * 60
    utc_offset_min: int = 7 * 60
    holidays: frozenset[str] = frozenset()
    events: tuple[ParkEvent, ...] = ()


@dataclass(frozen=True)
class Override:
    """An operator's decision for one node until ``until_ms``; throttle None = unthrottled."""

    node: str
    until_ms: int
    throttle: Throttle | None
    operator: str = ""


@dataclass(frozen=True)
class Reason:
    """Why a node got its decision: a code + params the UI can translate, and EN/ID text."""

    code: str
    params: Mapping[str, str | int | float]
    en: str
    id: str


@dataclass(frozen=True)
class ThrottleDecision:
    """Desired throttle of one node; ``send`` = issue (or renew) the command now."""

    node: str
    throttle: Throttle | None
    reason: Reason
    since_ms: int  # when this throttle value was decided
    epoch: int
    changed: bool = False
    send: bool = False


@dataclass
class GroupState:
    """Congestion tracker of one upstream group."""

    baseline_rtt_ms: float | None = None
    bad_ticks: int = 0
    good_since_ms: int | None = None
    congested: bool = False
    level: int = 0  # multiplicative step-downs in force
    level_ms: int = 0  # when level last changed
    rtt_rise_ms: float = 0.0
    loss_pct: float = 0.0


@dataclass
class PolicyState:
    """Everything the engine remembers between ticks (kept by the leader, rebuilt if lost)."""

    decisions: dict[str, ThrottleDecision] = field(default_factory=dict)
    groups: dict[str, GroupState] = field(default_factory=dict)
    crowded: dict[str, bool] = field(default_factory=dict)
    sent_ms: dict[str, int] = field(default_factory=dict)
    offline: set[str] = field(default_factory=set)
    users: dict[str, float] = field(default_factory=dict)  # smoothed user counts
    raw: dict[str, Throttle | None] = field(default_factory=dict)  # last unquantized candidate
    epoch: int = -1


@dataclass(frozen=True)
class PolicyConfig:
    """Tunables; defaults suit 10 s samples and 5-minute decisions."""

    hold_ms: int = 300_000  # minimum time between two changes of one node
    dead_band: float = 0.15  # relative change smaller than this is ignored
    quantum_kbps: int = 256  # throttles are multiples of this
    overcommit: float = 1.5  # shares add up to this times the upstream capacity
    rtt_rise_on_ms: float = 80.0  # RTT above the baseline that counts as congestion
    rtt_rise_off_ms: float = 30.0  # ... and below which it has cleared
    loss_on_pct: float = 3.0
    loss_off_pct: float = 1.0
    bad_ticks_on: int = 3  # consecutive congested ticks before acting
    clear_hold_ms: int = 600_000  # calm this long before congestion is over
    step_factor: float = 0.75  # each congestion level multiplies by this
    max_level: int = 6
    protected_levels: int = 2  # offices in office hours feel congestion this many levels later
    crowd_on: int = 30  # users at which per-client caps start
    crowd_off: int = 20  # ... and below which they stop
    fair_factor: float = 3.0  # a client may take this many fair shares
    users_window_ticks: int = 30  # user counts are smoothed over about this many ticks
    lease_s: int = 900
    renew_every_ms: int = 300_000
    weights: Mapping[str, float] = field(default_factory=lambda: {
        "office/office_hours": 3.0, "park/office_hours": 1.0,
        "office/evening": 0.5, "park/evening": 2.0,
        "office/weekend": 0.5, "park/weekend": 2.0, "park/event": 4.0})


@dataclass(frozen=True)
class PolicyInputs:
    """One tick's inputs: time, fencing epoch, fleet, latest observations, schedule, overrides."""

    now_ms: int
    epoch: int
    sites: Mapping[str, SiteInfo]
    upstreams: Mapping[str, Upstream]
    observations: Mapping[str, NodeObs]
    schedule: Schedule = Schedule()
    overrides: Sequence[Override] = ()
