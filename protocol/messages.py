"""Pydantic models of every protocol v1 payload (see docs/protocol.md)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from protocol.topics import is_valid_id

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
NonNeg = Annotated[int, Field(ge=0, le=2**63 - 1)]  # fits SQLite INTEGER and PG bigint
Seq = Annotated[int, Field(ge=0, lt=2**63)]
Pct = Annotated[float, Field(ge=0, le=100)]
Rate = Annotated[float, Field(ge=0)]

SCHEMA_PREFIX = "kotanet."
SCHEMA_VERSION = 1


class Inbound(BaseModel):
    """Base of wire models: unknown fields are ignored (forward compatible)."""

    model_config = ConfigDict(extra="ignore", frozen=False)


class Envelope(Inbound):
    """Fields every payload carries."""

    KIND: ClassVar[str] = ""
    schema_: str = Field(alias="schema")
    site: Id
    node: Id
    ts_ms: NonNeg

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @classmethod
    def schema_name(cls) -> str:
        """The schema string of this kind, e.g. ``kotanet.tele/1``."""
        return f"{SCHEMA_PREFIX}{cls.KIND}/{SCHEMA_VERSION}"

    @model_validator(mode="before")
    @classmethod
    def _default_schema(cls, data: Any) -> Any:
        if isinstance(data, dict) and "schema" not in data and "schema_" not in data:
            data = {**data, "schema": cls.schema_name()}
        return data

    @model_validator(mode="after")
    def _check_schema(self) -> Envelope:
        if self.schema_ != self.schema_name():
            raise ValueError(f"schema {self.schema_!r} is not {self.schema_name()!r}")
        return self


# ---------------------------------------------------------------- birth
class UplinkInfo(Inbound):
    """One configured uplink of a node."""

    name: Id
    iface: str
    kind: Literal["ethernet", "lte", "wifi", "other"] = "ethernet"
    priority: NonNeg = 0


class OutboxInfo(Inbound):
    """The agent's store-and-forward backlog at birth (null when empty)."""

    oldest_seq: Seq | None = None
    newest_seq: Seq | None = None


class ClockInfo(Inbound):
    """Whether the node's wall clock is NTP-synchronised."""

    synced: bool
    wall_ms: NonNeg


class Birth(Envelope):
    """Session start (or resync reply) of an agent."""

    KIND: ClassVar[str] = "birth"
    session: NonNeg
    boot_id: str
    agent_version: str
    config_hash: str
    role: Literal["park", "office"]
    uplinks: list[UplinkInfo] = []
    throttle_version: NonNeg = 0
    cmd_epoch: NonNeg = 0  # the command gate's highest epoch seen (0 = unknown / none yet)
    applied_version: NonNeg = 0  # the command gate's applied version (0 = unknown / none yet)
    outbox: OutboxInfo = OutboxInfo()
    clock: ClockInfo
    simulated: bool = False


# ---------------------------------------------------------------- tele
class UplinkSample(Inbound):
    """Health of one uplink in one sample; null = not measured."""

    name: Id
    up: bool | None = None
    active: bool = False
    rtt_ms: Annotated[float, Field(ge=0)] | None = None
    loss_pct: Pct | None = None
    jitter_ms: Annotated[float, Field(ge=0)] | None = None
    rx_bps: Rate | None = None
    tx_bps: Rate | None = None
    rx_errors: NonNeg | None = None
    tx_errors: NonNeg | None = None
    rx_dropped: NonNeg | None = None
    tx_dropped: NonNeg | None = None


class Users(Inbound):
    """User counts; null = source unavailable."""

    associated: NonNeg | None = None
    authenticated: NonNeg | None = None
    leases: NonNeg | None = None
    total: NonNeg | None = None
    neighbours: NonNeg | None = None
    daily_unique: NonNeg | None = None


class SystemHealth(Inbound):
    """Pi health; every sensor optional (null = unavailable)."""

    cpu_pct: Pct | None = None
    mem_pct: Pct | None = None
    temp_c: float | None = None
    disk_pct: Pct | None = None
    uptime_s: NonNeg | None = None
    undervoltage: bool | None = None
    throttled: bool | None = None
    load1: Annotated[float, Field(ge=0)] | None = None
    undervoltage_since_boot: bool | None = None
    throttled_since_boot: bool | None = None


class Shaping(Inbound):
    """Throttle currently applied on the node."""

    version: NonNeg
    down_kbps: NonNeg | None = None
    up_kbps: NonNeg | None = None
    per_client_down_kbps: NonNeg | None = None
    per_client_up_kbps: NonNeg | None = None


class ProbeReport(Inbound):
    """How one probe fared in this sample (Telegraf style)."""

    name: str
    status: Literal["ok", "unavailable", "failed", "timeout"]
    duration_ms: Annotated[float, Field(ge=0)] = 0.0
    detail: str = ""


class Sample(Inbound):
    """One measurement round of a node."""

    seq: Seq | None = None
    ts_ms: NonNeg
    uplinks: list[UplinkSample] = []
    users: Users = Users()
    system: SystemHealth = SystemHealth()
    shaping: Shaping | None = None
    probes: list[ProbeReport] = []


class Event(Inbound):
    """Something that happened on the node (failover, throttle applied, ...)."""

    seq: Seq | None = None
    ts_ms: NonNeg
    kind: Annotated[str, Field(min_length=1, max_length=64)]
    severity: Literal["info", "warning", "critical"] = "info"
    message: str = ""
    data: dict[str, Any] = {}


DropReason = Literal["overflow", "age", "corrupt"]


class Tele(Envelope):
    """A batch of samples and events from the agent's outbox."""

    KIND: ClassVar[str] = "tele"
    session: NonNeg
    seq: Seq
    historical: bool = False
    samples: list[Sample] = []
    events: list[Event] = []
    dropped: list[tuple[Seq, Seq, DropReason]] = []

    @model_validator(mode="after")
    def _check_seqs(self) -> Tele:
        """Fill per-record seqs (seq, seq+1, ...) when absent and check their ranges."""
        records: list[Sample | Event] = [*self.samples, *self.events]
        nxt: int = self.seq
        for rec in records:
            if rec.seq is None:
                rec.seq = nxt
            nxt = rec.seq + 1
        seqs = [s for s in (r.seq for r in records) if s is not None]
        if seqs and min(seqs) != self.seq:
            raise ValueError("seq must equal the lowest record seq of the batch")
        if seqs and max(seqs) >= 2**63:
            raise ValueError("filled record seq exceeds 2**63-1")
        if len(set(seqs)) != len(seqs):
            raise ValueError("duplicate record seq in one batch")
        for lo, hi, _ in self.dropped:
            if hi < lo:
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

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    KIND: ClassVar[str] = "central_state"
    schema_: Literal["kotanet.central_state/1"] = Field("kotanet.central_state/1", alias="schema")
    instance: Id
    online: bool
    epoch: NonNeg = 0
    ts_ms: NonNeg

    @classmethod
    def schema_name(cls) -> str:
        """The schema string ``kotanet.central_state/1``."""
        return "kotanet.central_state/1"


# ---------------------------------------------------------------- commands
CommandKind = Literal["set_throttle", "clear_throttle", "failover", "failback", "resync", "reboot"]
COMMAND_KINDS: tuple[str, ...] = (
    "set_throttle", "clear_throttle", "failover", "failback", "resync", "reboot",
)


class Command(Envelope):
    """Desired state sent by central to one node."""

    KIND: ClassVar[str] = "cmd"
    cmd_id: Annotated[str, Field(min_length=1, max_length=64)]
    kind: str
    version: NonNeg
    epoch: NonNeg
    issued_at_ms: NonNeg
    expires_at_ms: NonNeg
    params: dict[str, Any] = {}


AckStage = Literal["accepted", "applied", "rejected", "expired", "superseded"]


class CommandAck(Envelope):
    """The agent's answer to a command, one per stage."""

    KIND: ClassVar[str] = "ack"
    cmd_id: Annotated[str, Field(min_length=1, max_length=64)]
    stage: AckStage
    code: str = "ok"
    detail: str = ""
    applied_version: NonNeg = 0


class DeliveryReceipt(Envelope):
    """Central's receipt: these record seqs of this node are committed."""

    KIND: ClassVar[str] = "rx"
    session: NonNeg
    acked: list[tuple[Seq, Seq]]

    @model_validator(mode="after")
    def _check_ranges(self) -> DeliveryReceipt:
        for lo, hi in self.acked:
            if hi < lo:
                raise ValueError("acked range with to_seq < from_seq")
        return self


NODE_MODELS: dict[str, type[Envelope]] = {
    m.KIND: m for m in (Birth, Tele, NodeState, Command, CommandAck, DeliveryReceipt)
}

__all__ = [
    "Birth", "Tele", "Sample", "Event", "NodeState", "CentralState", "Command", "CommandAck",
    "DeliveryReceipt", "UplinkInfo", "UplinkSample", "Users", "SystemHealth", "Shaping",
    "ProbeReport", "OutboxInfo", "ClockInfo", "NODE_MODELS", "COMMAND_KINDS", "is_valid_id",
]
