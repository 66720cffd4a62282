"""Central configuration (TOML, strict: an unknown or misspelt key fails with its name)."""

from __future__ import annotations

import json
import os
import socket
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from central.api.client_addr import parse_network
from central.notify.config import NotifySection
from central.policy.config import (
    EventSection,
    OverrideSection,
    PolicySection,
    SiteSection,
    UpstreamSection,
    check_fleet,
    first_duplicate,
    unregistered_site_nodes,
)
from protocol.config import ConfigError, Strict, valid_id
from protocol.topics import DEFAULT_PREFIX, TopicError, Topics

ENV_STATE_DB = "KOTANET_STATE_DB"
ENV_FLEET_FILE = "KOTANET_FLEET_FILE"
ENV_TRUSTED_PROXIES = "KOTANET_TRUSTED_PROXIES"
#: Environment variables that override one config key: (variable, section, key).
ENV_KEYS: tuple[tuple[str, str, str], ...] = (
    ("KOTANET_MQTT_URL", "mqtt", "url"), ("KOTANET_MQTT_CA", "mqtt", "ca_file"),
    ("KOTANET_DB", "storage", "url"), (ENV_STATE_DB, "storage", "state_url"),
    ("KOTANET_HTTP", "http", "listen"), ("KOTANET_ADMIN_TOKEN", "http", "admin_token"),
    ("KOTANET_COMMAND_KEY", "commands", "signing_key_file"))
FLEET_KEYS = ("sites", "upstreams", "events", "overrides", "nodes")
MQTT_PORTS = {"mqtt": 1883, "mqtts": 8883}
M = TypeVar("M", bound=BaseModel)


class RegistryNode(Strict):
    """One known node: its id, site and role."""

    node: str
    site: str
    role: Literal["park", "office"] = "park"
    name: str = ""

    _ids = field_validator("node", "site")(valid_id)


class MqttSection(Strict):
    """How the collector reaches the broker."""

    url: str = "mqtt://127.0.0.1:1883"
    ca_file: str | None = None  # CA bundle for mqtts:// (default: the system CAs)
    keepalive_s: Annotated[int, Field(ge=2, le=3600)] = 30
    receive_max: Annotated[int, Field(ge=1, le=65535)] = 200
    reconnect_min_s: Annotated[float, Field(gt=0)] = 0.5
    reconnect_max_s: Annotated[float, Field(gt=0)] = 30.0
    #: The collectors' shared-subscription group; default: derived from the URL's password
    #: (central/collector/mqtt_conn.share_group), so a node cannot join it.
    share_group: str | None = None

    @field_validator("share_group")
    @classmethod
    def _share_group(cls, v: str | None) -> str | None:
        return None if v is None else valid_id(v)


class StorageSection(Strict):
    """Where records are stored and how writes are batched."""

    url: str = "sqlite:///var/lib/kotanet/central.db"
    # commands, lease, alerts, incidents, outbox, NOC: sqlite: or postgresql: (default: url)
    state_url: str | None = None
    batch_max: Annotated[int, Field(ge=1, le=10000)] = 500
    batch_linger_ms: Annotated[int, Field(ge=0, le=5000)] = 20
    queue_max: Annotated[int, Field(ge=10)] = 20000
    queue_max_mb: Annotated[int, Field(ge=1)] = 16
    # Retention (central/storage/retention.py, docs/operations.md 1.7); 0 days = keep forever.
    raw_retention_days: Annotated[int, Field(ge=0, le=36500)] = 30  # samples, events, drops
    rollup_retention_days: Annotated[int, Field(ge=0, le=36500)] = 3650  # rollup_5m, cmd_acks
    retention_batch_rows: Annotated[int, Field(ge=100, le=100_000)] = 5000
    retention_pause_ms: Annotated[int, Field(ge=0, le=60_000)] = 50
    retention_interval_s: Annotated[int, Field(ge=60, le=7 * 86400)] = 3600

    @model_validator(mode="after")
    def _retention(self) -> StorageSection:
        raw, roll = self.raw_retention_days, self.rollup_retention_days
        if roll and (not raw or roll < raw):
            raise ValueError(
                f"rollup_retention_days ({roll}) must be 0 (keep forever) or at least "
                f"raw_retention_days ({raw or '0 = forever'}): the 5-minute rollups are what "
                "remains of the raw samples")
        return self

    @field_validator("state_url")
    @classmethod
    def _state_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("sqlite:", "postgresql:", "postgres:")):
            raise ValueError("must be sqlite:///path or postgresql://...")
        return v


class HttpSection(Strict):
    """The JSON API and /metrics listener."""

    listen: str = "127.0.0.1:8080"
    admin_token: str | None = None
    # Reverse proxies whose X-Forwarded-For/-Proto are believed (CIDRs; [] = ignore them).
    trusted_proxies: list[str] = []

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted(cls, v: list[str]) -> list[str]:
        return [str(parse_network(item)) for item in v]


class CommandsSection(Strict):
    """Command signing, docs/operations.md 5.1: key file (None: unsigned), next key, retired."""

    signing_key_file: str | None = None
    next_key_file: str | None = None
    retire_key_ids: list[str] = []


class LimitsSection(Strict):
    """What one node may send to central (token buckets; well above a real agent's rate: a
    window of 8 batches per round trip while replaying). Over it: dropped unreceipted."""

    node_msgs_per_s: Annotated[float, Field(gt=0, le=1e6)] = 200.0
    node_burst_msgs: Annotated[float, Field(ge=1, le=1e7)] = 800.0
    node_bytes_per_s: Annotated[float, Field(gt=0, le=1e10)] = 8.0 * 1024 * 1024
    node_burst_bytes: Annotated[float, Field(ge=1024, le=1e11)] = 32.0 * 1024 * 1024
    max_tracked_nodes: Annotated[int, Field(ge=1, le=10_000_000)] = 100_000


class CentralConfig(Strict):
    """The whole central configuration file."""

    instance: str | None = None
    topic_prefix: str = DEFAULT_PREFIX
    strict_registry: bool = False
    gap_grace_s: Annotated[float, Field(ge=0)] = 300.0
    max_payload_bytes: Annotated[int, Field(ge=1024)] = 256 * 1024
    registry_file: str | None = None
    mqtt: MqttSection = MqttSection()
    storage: StorageSection = StorageSection()
    http: HttpSection = HttpSection()
    commands: CommandsSection = CommandsSection()
    limits: LimitsSection = LimitsSection()
    nodes: list[RegistryNode] = []
    fleet_file: str | None = None
    policy: PolicySection = PolicySection()
    sites: list[SiteSection] = []
    upstreams: list[UpstreamSection] = []
    events: list[EventSection] = []
    overrides: list[OverrideSection] = []
    notify: NotifySection = NotifySection()

    @field_validator("instance")
    @classmethod
    def _instance(cls, v: str | None) -> str | None:
        return None if v is None else valid_id(v)

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        try:
            return Topics(v).prefix
        except TopicError as exc:
            raise ValueError(str(exc)) from None

    def instance_id(self) -> str:
        """The configured instance id, else '<hostname>-<pid>' made safe for topics."""
        if self.instance:
            return self.instance
        host = "".join(c if c.isalnum() or c in "_.-" else "-" for c in socket.gethostname())
        return f"{host.strip('-.') or 'central'}-{os.getpid()}"[:64]

    def http_hostport(self) -> tuple[str, int]:
        """The HTTP listen address as (host, port)."""
        return parse_hostport(self.http.listen, "http.listen")


def parse_hostport(value: str, key: str) -> tuple[str, int]:
    """Parse 'host:port' or raise ConfigError naming the key."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{key}: expected host:port, got {value!r}")
    return host.strip("[]"), int(port)


def parse_mqtt_url(url: str) -> tuple[str, int, str | None, str | None]:
    """Split mqtt[s]://user:pass@host:port into (host, port, user, password)."""
    parts = urlsplit(url)
    if parts.scheme not in MQTT_PORTS or not parts.hostname:
        raise ConfigError("mqtt.url: expected mqtt://user:pass@host:port or mqtts://..., got "
                          f"scheme {parts.scheme!r}")
    try:
        port = parts.port or MQTT_PORTS[parts.scheme]
    except ValueError:
        raise ConfigError("mqtt.url: invalid port") from None
    user = unquote(parts.username) if parts.username else None
    pw = unquote(parts.password) if parts.password else None
    return parts.hostname, port, user, pw


def _one_line(exc: ValidationError, source: str) -> ConfigError:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(root)"
    if err["type"] == "extra_forbidden":
        return ConfigError(f"{source}: unknown key {key!r}")
    return ConfigError(f"{source}: {key}: {err['msg']}")


def _read_data(path: Path, key: str) -> Any:
    """TOML or JSON (by suffix) of a file named by config key ``key``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.') or 'TOML'}: {exc}") from None


def _validated(model: type[M], items: list[Any], where: str) -> list[M]:
    """Each item validated by model (ConfigError naming ``where[i]`` and the key if not)."""
    out: list[M] = []
    for i, item in enumerate(items):
        try:
            out.append(model.model_validate(item))
        except ValidationError as exc:
            raise _one_line(exc, f"{where}[{i}]") from None
    return out


def load_registry(path: Path) -> list[RegistryNode]:
    """Read a registry file: TOML with [[nodes]] or JSON (a list, or {"nodes": [...]})."""
    data = _read_data(path, "registry_file")
    if isinstance(data, dict):
        extra = set(data) - {"nodes"}
        if extra:
            raise ConfigError(f"{path}: unknown key {sorted(extra)[0]!r}")
        data = data.get("nodes", [])
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a list of nodes")
    return _validated(RegistryNode, data, f"{path}: nodes")


def _apply_env(data: dict[str, Any], env: dict[str, str]) -> None:
    for var, section, key in ENV_KEYS:
        if env.get(var):
            data.setdefault(section, {})[key] = env[var]
    if env.get(ENV_TRUSTED_PROXIES, "").strip():  # comma-separated CIDRs
        data.setdefault("http", {})["trusted_proxies"] = [
            p.strip() for p in env[ENV_TRUSTED_PROXIES].split(",") if p.strip()]
    if env.get(ENV_FLEET_FILE):
        data["fleet_file"] = str(Path(env[ENV_FLEET_FILE]).absolute())  # relative to the cwd


def load_fleet(path: Path) -> dict[str, list[Any]]:
    """Read a fleet file (TOML/JSON table of sites, upstreams, events, overrides, nodes lists)."""
    data = _read_data(path, "fleet_file")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table with {', '.join(FLEET_KEYS)}")
    extra = sorted(set(data) - set(FLEET_KEYS))
    if extra:
        raise ConfigError(f"{path}: unknown key {extra[0]!r}")
    models: dict[str, type[BaseModel]] = {
        "sites": SiteSection, "upstreams": UpstreamSection, "events": EventSection,
        "overrides": OverrideSection, "nodes": RegistryNode}
    for k, v in data.items():
        if not isinstance(v, list):
            raise ConfigError(f"{path}: {k}: must be a list")
        _validated(models[k], v, f"{path}: {k}")
    return data


def _beside(path: str | Path | None, name: str) -> Path:
    """A file the config names: a relative name is relative to the config file."""
    named = Path(name)
    return Path(path).parent / named if not named.is_absolute() and path is not None else named


def _merge_fleet(data: dict[str, Any], path: str | Path | None) -> None:
    """Append the fleet file's lists to the inline ones (fleet_file relative to the config)."""
    for k, v in load_fleet(_beside(path, str(data["fleet_file"]))).items():
        inline = data.get(k, [])
        if not isinstance(inline, list):
            raise ConfigError(f"{k}: must be a list ([[{k}]])")
        data[k] = [*inline, *v]


def load_config(path: str | Path | None, env: dict[str, str] | None = None) -> CentralConfig:
    """Load the TOML file (or defaults when None), apply env overrides, validate strictly."""
    env = dict(os.environ) if env is None else env
    source = str(path) if path else "(defaults)"
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    _apply_env(data, env)
    if isinstance(data.get("fleet_file"), str):
        _merge_fleet(data, path)
    for section in ("mqtt", "storage", "http", "policy", "notify"):
        if section in data and not isinstance(data[section], dict):
            raise ConfigError(f"{source}: {section}: must be a table [{section}]")
    try:
        cfg = CentralConfig.model_validate(data, context={
            "env": env, "base": Path(path).parent if path is not None else None})
    except ValidationError as exc:
        raise _one_line(exc, source) from None
    parse_mqtt_url(cfg.mqtt.url)
    if cfg.mqtt.ca_file and not cfg.mqtt.url.startswith("mqtts:"):
        raise ConfigError(f"{source}: mqtt.ca_file: a CA file needs an mqtts:// url")
    if cfg.mqtt.ca_file and not os.access(cfg.mqtt.ca_file, os.R_OK):
        raise ConfigError(f"{source}: mqtt.ca_file: cannot read {cfg.mqtt.ca_file}")
    cfg.http_hostport()
    if cfg.registry_file:
        cfg.nodes = [*cfg.nodes, *load_registry(_beside(path, cfg.registry_file))]
    dup = first_duplicate([n.node for n in cfg.nodes])
    if dup is not None:
        raise ConfigError(f"{source}: nodes: node {dup!r} listed twice")
    try:
        check_fleet(cfg, source)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    cfg.nodes = [*cfg.nodes, *(RegistryNode(node=n, site=s.id, role=s.kind, name=s.name)
                               for n, s in unregistered_site_nodes(cfg))]  # only in [[sites]]
    return cfg
