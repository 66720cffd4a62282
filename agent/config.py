"""Agent configuration (TOML, strict: an unknown or misspelt key fails with its name)."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from agent.policy.failover import Params
from protocol.config import ConfigError, Strict, valid_id
from protocol.topics import DEFAULT_PREFIX


class NodeSection(Strict):
    """Who this node is."""

    id: str
    site: str
    role: Literal["park", "office"] = "park"

    @model_validator(mode="after")
    def _ids(self) -> NodeSection:
        valid_id(self.id)
        valid_id(self.site)
        return self


class MqttSection(Strict):
    """How to reach the broker. The username defaults to the node id."""

    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    keepalive_s: Annotated[int, Field(ge=2, le=3600)] = 30
    topic_prefix: str = DEFAULT_PREFIX
    reconnect_min_s: Annotated[float, Field(gt=0)] = 0.5
    reconnect_max_s: Annotated[float, Field(gt=0)] = 30.0


class AgentSection(Strict):
    """Loop timing and where durable state lives."""

    state_dir: str = "/var/lib/kotanet"
    sample_interval_s: Annotated[float, Field(gt=0, le=3600)] = 10.0
    probe_timeout_s: Annotated[float, Field(gt=0, le=60)] = 3.0
    status_file: str = "/run/kotanet/status.json"  # local status snapshot (RAM); "" = off


class OutboxSection(Strict):
    """Store-and-forward limits."""

    max_records: Annotated[int, Field(ge=10)] = 200_000
    max_age_s: Annotated[int, Field(ge=60)] = 7 * 24 * 3600
    batch_max_records: Annotated[int, Field(ge=1, le=5000)] = 50
    window: Annotated[int, Field(ge=1, le=100)] = 8
    retry_min_s: Annotated[float, Field(gt=0)] = 2.0
    retry_max_s: Annotated[float, Field(gt=0)] = 60.0
    flush_every: Annotated[int, Field(ge=1)] = 6
    write_behind: bool = True


class UplinkSection(Strict):
    """One uplink: where it is and how to probe it."""

    name: str
    iface: str
    kind: Literal["ethernet", "lte", "wifi", "other"] = "ethernet"
    priority: Annotated[int, Field(ge=0)] = 0
    gateway: str | None = None
    targets: list[str] = Field(default_factory=lambda: ["1.1.1.1", "8.8.8.8"], min_length=1)
    method: Literal["icmp", "tcp", "dns"] = "icmp"
    tcp_port: Annotated[int, Field(ge=1, le=65535)] = 443
    probe_interval_s: Annotated[float, Field(gt=0)] = 1.0
    standby_probe_interval_s: Annotated[float, Field(gt=0)] = 30.0
    probe_timeout_s: Annotated[float, Field(gt=0, le=30)] = 1.0
    fwmark: Annotated[int, Field(ge=0)] | None = None
    probe_count: Annotated[int, Field(ge=1, le=20)] = 3
    source: str | None = None

    @model_validator(mode="after")
    def _name(self) -> UplinkSection:
        valid_id(self.name)
        return self


class UsersSection(Strict):
    """Where user counts come from; every source is optional."""

    hostapd_ctrl: list[str] = Field(default_factory=lambda: ["/var/run/hostapd"])
    dnsmasq_leases: str | None = "/var/lib/misc/dnsmasq.leases"
    lan_iface: str | None = "br0"
    ndsctl: str | None = "ndsctl"
    hostapd_timeout_s: Annotated[float, Field(gt=0, le=10)] = 0.5


class ShapingSection(Strict):
    """Where throttling is applied and what the safe default is."""

    enabled: bool = False
    lan_iface: str = "br0"
    ifb_iface: str = "ifb-kotanet"
    default_down_kbps: Annotated[int, Field(ge=0)] | None = None
    default_up_kbps: Annotated[int, Field(ge=0)] | None = None
    leaf_qdisc: Literal["auto", "fq_codel", "sfq", "pfifo"] = "auto"


class FailoverSection(Strict, Params):
    """The uplink failover: on/off, the agent's routing table and rule, and the state
    machine's hysteresis (``agent.policy.failover.Params``: down_failures, down_window,
    stable_window_s, flap_threshold, flap_window_s, manual_timeout_s, loss_down_pct,
    loss_degraded_pct)."""

    enabled: bool = False
    table: Annotated[int, Field(ge=1, le=2**31 - 1)] = 100
    rule_priority: Annotated[int, Field(ge=1, le=32765)] = 1000
    # LTE modem power-cycle through [gpio] modem_relay: after an "lte" uplink has been down
    # this long (0 = never), cut its power for modem_cycle_off_s, at most once per min interval
    modem_cycle_after_s: Annotated[float, Field(ge=0)] = 300.0
    modem_cycle_off_s: Annotated[float, Field(gt=0, le=120)] = 10.0
    modem_cycle_min_interval_s: Annotated[float, Field(ge=0)] = 1800.0


class CommandsSection(Strict):
    """Command signatures: central's public keys (id -> raw Ed25519 key, base64url)."""

    require_signed: bool = True  # false only for old bundles / simulated nodes, explicitly
    keys: dict[str, Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{43}$")]] | None = None

    @model_validator(mode="after")
    def _ids(self) -> CommandsSection:
        for key_id in self.keys or {}:
            valid_id(key_id)
        return self


class GpioSection(Strict):
    """Status LEDs, button and optional modem relay (BCM pin numbers; null = absent)."""

    led_ok: int | None = None
    led_warn: int | None = None
    led_fail: int | None = None
    button: int | None = None
    modem_relay: int | None = None


class AgentConfig(Strict):
    """The whole agent.toml."""

    node: NodeSection
    mqtt: MqttSection = MqttSection()
    agent: AgentSection = AgentSection()
    outbox: OutboxSection = OutboxSection()
    uplinks: list[UplinkSection] = []
    users: UsersSection = UsersSection()
    shaping: ShapingSection = ShapingSection()
    failover: FailoverSection = FailoverSection()
    gpio: GpioSection = GpioSection()
    commands: CommandsSection = CommandsSection()

    @model_validator(mode="after")
    def _unique_uplinks(self) -> AgentConfig:
        names = [u.name for u in self.uplinks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate uplink name(s): {', '.join(dupes)}")
        return self

    def config_hash(self) -> str:
        """Stable short hash of the effective configuration (what `verify` compares)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def _fmt_error(source: str, exc: ValidationError) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(root)"
    if err["type"] == "extra_forbidden":
        msg = f"{source}: unknown key '{key}'"
    elif err["type"] == "missing":
        msg = f"{source}: missing required key '{key}'"
    else:
        msg = f"{source}: key '{key}': {err['msg']}"
    more = exc.error_count() - 1
    return msg + (f" (and {more} more error(s))" if more else "")


def parse_config(data: dict[str, object], source: str = "<config>") -> AgentConfig:
    """Validate a config mapping; raise ConfigError with one line naming the key."""
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_fmt_error(source, exc)) from None


def load_config(path: str | Path) -> AgentConfig:
    """Read and validate an agent.toml file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse_config(data, str(p))
