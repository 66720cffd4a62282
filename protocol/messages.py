"""Pydantic models of every protocol v1 payload (see docs/protocol.md); bounds in limits.py.

The records a ``tele`` batch repeats most (per uplink, per probe, several per sample) are
``TypedDict``s rather than models: pydantic-core validates them with the same bounds, strictness
and finite-number rule, but builds a plain dict (every key present, defaults filled in) instead of
a model instance, which is most of the decode time of a batch (bench/codec.py). Read them as
``u["rtt_ms"]``; validate one on its own with ``UPLINK_SAMPLE`` / ``PROBE_REPORT``.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, NotRequired

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator, with_config
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from protocol.commands import (
    COMMAND_KINDS,
    KEY_COMMAND_KIND,
    AckStage,
    Command,
    CommandAck,
    CommandKind,
    KeyAnnouncement,
)
from protocol.envelope import SCHEMA_PREFIX, SCHEMA_VERSION, Envelope, Inbound
from protocol.limits import (
    MAX_ACKED,
    MAX_DROPPED,
    MAX_DURATION_MS,
    MAX_HASH_CHARS,
    MAX_IFACE_CHARS,
    MAX_INT64,
    MAX_KEY_IDS,
    MAX_LOAD,
    MAX_PRIORITY,
    MAX_PROBE_NAME_CHARS,
    MAX_PROBES,
    MAX_RECORDS,
    MAX_TEMP_C,
    MAX_UPLINKS,
    MAX_UPTIME_S,
    MIN_TEMP_C,
    Bps,
    Id,
    Kbps,
    Ms,
    Name,
    NonNeg,
    Packets,
    Pct,
    Seq,
    Text,
    Tree,
    TsMs,
    UserCount,
)
from protocol.topics import is_valid_id

Rate = Bps  # the name before the bounds moved to protocol.limits


# ---------------------------------------------------------------- birth
class UplinkInfo(Inbound):
    """One configured uplink of a node."""

    name: Id
    iface: Annotated[str, Field(min_length=1, max_length=MAX_IFACE_CHARS)]
    kind: Literal["ethernet", "lte", "wifi", "other"] = "ethernet"
    priority: Annotated[int, Field(ge=0, le=MAX_PRIORITY)] = 0


class OutboxInfo(Inbound):
    """The agent's store-and-forward backlog at birth (null when empty)."""

    oldest_seq: Seq | None = None
    newest_seq: Seq | None = None


class ClockInfo(Inbound):
    """Whether the node's wall clock is NTP-synchronised."""

    synced: bool
    wall_ms: TsMs


class Birth(Envelope):
    """Session start (or resync reply) of an agent."""

    KIND: ClassVar[str] = "birth"
    session: NonNeg
    boot_id: Name
    agent_version: Name
    config_hash: Annotated[str, Field(min_length=1, max_length=MAX_HASH_CHARS)]
    role: Literal["park", "office"]
    uplinks: Annotated[list[UplinkInfo], Field(max_length=MAX_UPLINKS)] = []
    throttle_version: NonNeg = 0
    cmd_epoch: NonNeg = 0  # the command gate's highest epoch seen (0 = unknown / none yet)
    applied_version: NonNeg = 0  # the command gate's applied version (0 = unknown / none yet)
    outbox: OutboxInfo = OutboxInfo()
    clock: ClockInfo
    simulated: bool = False
    cmd_key_ids: Annotated[list[Id], Field(max_length=MAX_KEY_IDS)] = []
    # the signed command (as received) that set cmd_epoch: central raises its epoch only from
    # this, after verifying the signature with its own key (a bare cmd_epoch is a claim)
    epoch_proof: Tree | None = None
    # hash of the node files applied at enrolment (protocol.nodefiles; null = none recorded)
    files_hash: Annotated[str, Field(min_length=1, max_length=MAX_HASH_CHARS)] | None = None


# ---------------------------------------------------------------- tele
#: How the wire TypedDicts validate: unknown keys ignored, floats finite (as Inbound).
RECORD_CONFIG = ConfigDict(extra="ignore", allow_inf_nan=False)


@with_config(RECORD_CONFIG)
class UplinkSample(TypedDict):
    """Health of one uplink in one sample; null = not measured (a dict: the hot path)."""

    name: Id
    up: NotRequired[Annotated[bool | None, Field(default=None)]]
    active: NotRequired[Annotated[bool, Field(default=False)]]
    rtt_ms: NotRequired[Annotated[Ms | None, Field(default=None)]]
    loss_pct: NotRequired[Annotated[Pct | None, Field(default=None)]]
    jitter_ms: NotRequired[Annotated[Ms | None, Field(default=None)]]
    rx_bps: NotRequired[Annotated[Bps | None, Field(default=None)]]
    tx_bps: NotRequired[Annotated[Bps | None, Field(default=None)]]
    rx_errors: NotRequired[Annotated[Packets | None, Field(default=None)]]
    tx_errors: NotRequired[Annotated[Packets | None, Field(default=None)]]
    rx_dropped: NotRequired[Annotated[Packets | None, Field(default=None)]]
    tx_dropped: NotRequired[Annotated[Packets | None, Field(default=None)]]


class Users(Inbound):
    """User counts; null = source unavailable."""

    associated: UserCount | None = None
    authenticated: UserCount | None = None
    leases: UserCount | None = None
    total: UserCount | None = None
    neighbours: UserCount | None = None
    daily_unique: UserCount | None = None


class SystemHealth(Inbound):
    """Pi health; every sensor optional (null = unavailable)."""

    cpu_pct: Pct | None = None
    mem_pct: Pct | None = None
    temp_c: Annotated[float, Field(ge=MIN_TEMP_C, le=MAX_TEMP_C)] | None = None
    disk_pct: Pct | None = None
    uptime_s: Annotated[int, Field(ge=0, le=MAX_UPTIME_S)] | None = None
    undervoltage: bool | None = None
    throttled: bool | None = None
    load1: Annotated[float, Field(ge=0, le=MAX_LOAD)] | None = None
    undervoltage_since_boot: bool | None = None
    throttled_since_boot: bool | None = None


class Shaping(Inbound):
    """Throttle currently applied on the node."""

    version: NonNeg
    down_kbps: Kbps | None = None
    up_kbps: Kbps | None = None
    per_client_down_kbps: Kbps | None = None
    per_client_up_kbps: Kbps | None = None


@with_config(RECORD_CONFIG)
class ProbeReport(TypedDict):
    """How one probe fared in this sample (Telegraf style; a dict: the hot path)."""

    name: Annotated[str, Field(min_length=1, max_length=MAX_PROBE_NAME_CHARS)]
    status: Literal["ok", "unavailable", "failed", "timeout"]
    duration_ms: NotRequired[Annotated[float, Field(ge=0, le=MAX_DURATION_MS, default=0.0)]]
    detail: NotRequired[Annotated[Text, Field(default="")]]


#: Validators of one record on its own (python or JSON input), defaults filled in.
UPLINK_SAMPLE: TypeAdapter[UplinkSample] = TypeAdapter(UplinkSample)
PROBE_REPORT: TypeAdapter[ProbeReport] = TypeAdapter(ProbeReport)


class Sample(Inbound):
    """One measurement round of a node."""

    seq: Seq | None = None
    ts_ms: TsMs
    uplinks: Annotated[list[UplinkSample], Field(max_length=MAX_UPLINKS)] = []
    users: Users = Users()
    system: SystemHealth = SystemHealth()
    shaping: Shaping | None = None
    probes: Annotated[list[ProbeReport], Field(max_length=MAX_PROBES)] = []


class Event(Inbound):
    """Something that happened on the node (failover, throttle applied, ...)."""

    seq: Seq | None = None
    ts_ms: TsMs
    kind: Name
    severity: Literal["info", "warning", "critical"] = "info"
    message: Text = ""
    data: Tree = {}


DropReason = Literal["overflow", "age", "corrupt"]


class Tele(Envelope):
    """A batch of samples and events from the agent's outbox."""

    KIND: ClassVar[str] = "tele"
    session: NonNeg
    seq: Seq
    historical: bool = False
    samples: Annotated[list[Sample], Field(max_length=MAX_RECORDS)] = []
    events: Annotated[list[Event], Field(max_length=MAX_RECORDS)] = []
    dropped: Annotated[list[tuple[Seq, Seq, DropReason]], Field(max_length=MAX_DROPPED)] = []

    @model_validator(mode="after")
    def _check_seqs(self) -> Tele:
        """Fill per-record seqs (seq, seq+1, ...) when absent and check their ranges."""
        records: list[Sample | Event] = [*self.samples, *self.events]
        if len(records) > MAX_RECORDS:
            raise ValueError(f"more than {MAX_RECORDS} samples and events in one batch")
        seqs = [r.seq for r in records]
        if None in seqs:  # rare: the reference agent sends explicit seqs
            nxt: int = self.seq
            for i, rec in enumerate(records):
                if rec.seq is None:
                    rec.seq = nxt
                seqs[i] = rec.seq
                nxt = rec.seq + 1
        if seqs:
            known: list[int] = seqs  # type: ignore[assignment]  # no None left
            if min(known) != self.seq:
                raise ValueError("seq must equal the lowest record seq of the batch")
            if max(known) > MAX_INT64:
                raise ValueError("filled record seq exceeds 2**63-1")
            if len(set(known)) != len(known):
                raise ValueError("duplicate record seq in one batch")
        if any(hi < lo for lo, hi, _ in self.dropped):
            raise ValueError("dropped range with to_seq < from_seq")
        return self

    def record_seqs(self) -> list[int]:
        """Every record seq this batch carries."""
        recs: list[Sample | Event] = [*self.samples, *self.events]
        return [s for s in (r.seq for r in recs) if s is not None]


# ---------------------------------------------------------------- state
class NodeState(Envelope):
    """Retained presence of a node; also its MQTT Will (online=false)."""

    KIND: ClassVar[str] = "state"
    online: bool
    session: NonNeg


class CentralState(BaseModel):
    """Retained presence of a central instance; also its Will."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, allow_inf_nan=False)
    KIND: ClassVar[str] = "central_state"
    schema_: Literal["kotanet.central_state/1"] = Field("kotanet.central_state/1", alias="schema")
    instance: Id
    online: bool
    epoch: NonNeg = 0
    ts_ms: TsMs

    @classmethod
    def schema_name(cls) -> str:
        """The schema string ``kotanet.central_state/1``."""
        return "kotanet.central_state/1"


class DeliveryReceipt(Envelope):
    """Central's receipt: these record seqs of this node are committed."""

    KIND: ClassVar[str] = "rx"
    session: NonNeg
    acked: Annotated[list[tuple[Seq, Seq]], Field(max_length=MAX_ACKED)]

    @model_validator(mode="after")
    def _check_ranges(self) -> DeliveryReceipt:
        if any(hi < lo for lo, hi in self.acked):
            raise ValueError("acked range with to_seq < from_seq")
        return self


NODE_MODELS: dict[str, type[Envelope]] = {
    m.KIND: m for m in (Birth, Tele, NodeState, Command, CommandAck, DeliveryReceipt)
}

__all__ = [
    "Birth", "Tele", "Sample", "Event", "NodeState", "CentralState", "Command", "CommandAck",
    "DeliveryReceipt", "UplinkInfo", "UplinkSample", "Users", "SystemHealth", "Shaping",
    "ProbeReport", "UPLINK_SAMPLE", "PROBE_REPORT", "RECORD_CONFIG", "OutboxInfo", "ClockInfo", "NODE_MODELS", "COMMAND_KINDS", "is_valid_id",
    "KeyAnnouncement", "KEY_COMMAND_KIND", "AckStage", "CommandKind", "DropReason", "Envelope",
    "Inbound", "SCHEMA_PREFIX", "SCHEMA_VERSION",
]
