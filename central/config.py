"""Central configuration (TOML, strict: an unknown or misspelt key fails with its name)."""

from __future__ import annotations

import json
import os
import socket
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from central.client_addr import parse_network
from central.fleet_config import (
    EventSection,
    OverrideSection,
    PolicySection,
    SiteSection,
    UpstreamSection,
)
from protocol.topics import DEFAULT_PREFIX, TopicError, Topics, is_valid_id

ENV_MQTT_URL = "KOTANET_MQTT_URL"
ENV_MQTT_CA = "KOTANET_MQTT_CA"
ENV_STATE_DB = "KOTANET_STATE_DB"
ENV_DB = "KOTANET_DB"
ENV_HTTP = "KOTANET_HTTP"
ENV_ADMIN_TOKEN = "KOTANET_ADMIN_TOKEN"
ENV_FLEET_FILE = "KOTANET_FLEET_FILE"
ENV_TRUSTED_PROXIES = "KOTANET_TRUSTED_PROXIES"
FLEET_KEYS = ("sites", "upstreams", "events", "overrides", "nodes")
MQTT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class ConfigError(ValueError):
    """A configuration that cannot be used; the message is one line naming the key."""


class Strict(BaseModel):
    """Base of config sections: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


def _id(value: str) -> str:
    if not is_valid_id(value):
        raise ValueError("must be 1-64 of A-Z a-z 0-9 _ . - without '/', '+', '#'")
    return value


class RegistryNode(Strict):
    """One known node: its id, site and role."""

    node: str
    site: str
    role: Literal["park", "office"] = "park"
    name: str = ""

    _ids = field_validator("node", "site")(_id)


class MqttSection(Strict):
    """How the collector reaches the broker."""

    url: str = "mqtt://127.0.0.1:1883"
    ca_file: str | None = None  # CA bundle for mqtts:// (default: the system CAs)
    keepalive_s: Annotated[int, Field(ge=2, le=3600)] = 30
    receive_max: Annotated[int, Field(ge=1, le=65535)] = 200
    reconnect_min_s: Annotated[float, Field(gt=0)] = 0.5
    reconnect_max_s: Annotated[float, Field(gt=0)] = 30.0


class StorageSection(Strict):
    """Where records are stored and how writes are batched."""

    url: str = "sqlite:///var/lib/kotanet/central.db"
    state_url: str | None = None  # SQLite for commands, lease, alerts, NOC (default: url)
    batch_max: Annotated[int, Field(ge=1, le=10000)] = 500
    batch_linger_ms: Annotated[int, Field(ge=0, le=5000)] = 20
    queue_max: Annotated[int, Field(ge=10)] = 20000
    queue_max_mb: Annotated[int, Field(ge=1)] = 64

    @field_validator("state_url")
    @classmethod
    def _state_url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("sqlite:"):
            raise ValueError("must be sqlite:///path (PostgreSQL is not implemented for it)")
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
    nodes: list[RegistryNode] = []
    fleet_file: str | None = None
    policy: PolicySection = PolicySection()
    sites: list[SiteSection] = []
    upstreams: list[UpstreamSection] = []
    events: list[EventSection] = []
    overrides: list[OverrideSection] = []

    @field_validator("instance")
    @classmethod
    def _instance(cls, v: str | None) -> str | None:
        return None if v is None else _id(v)

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
    nodes: list[RegistryNode] = []
    for i, item in enumerate(data):
        try:
            nodes.append(RegistryNode.model_validate(item))
        except ValidationError as exc:
            err = _one_line(exc, f"{path}: nodes[{i}]")
            raise err from None
    return nodes


def _apply_env(data: dict[str, Any], env: dict[str, str]) -> None:
    if env.get(ENV_MQTT_URL):
        data.setdefault("mqtt", {})["url"] = env[ENV_MQTT_URL]
    if env.get(ENV_MQTT_CA):
        data.setdefault("mqtt", {})["ca_file"] = env[ENV_MQTT_CA]
    if env.get(ENV_DB):
        data.setdefault("storage", {})["url"] = env[ENV_DB]
    if env.get(ENV_STATE_DB):
        data.setdefault("storage", {})["state_url"] = env[ENV_STATE_DB]
    if env.get(ENV_HTTP):
        data.setdefault("http", {})["listen"] = env[ENV_HTTP]
    if env.get(ENV_ADMIN_TOKEN):
        data.setdefault("http", {})["admin_token"] = env[ENV_ADMIN_TOKEN]
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
        for i, item in enumerate(v):
            try:
                models[k].model_validate(item)
            except ValidationError as exc:
                raise _one_line(exc, f"{path}: {k}[{i}]") from None
    return data


def _merge_fleet(data: dict[str, Any], path: str | Path | None) -> None:
    """Append the fleet file's lists to the inline ones (fleet_file relative to the config)."""
    fleet = Path(str(data["fleet_file"]))
    if not fleet.is_absolute() and path is not None:
        fleet = Path(path).parent / fleet
    for k, v in load_fleet(fleet).items():
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
    for section in ("mqtt", "storage", "http", "policy"):
        if section in data and not isinstance(data[section], dict):
            raise ConfigError(f"{source}: {section}: must be a table [{section}]")
    try:
        cfg = CentralConfig.model_validate(data)
    except ValidationError as exc:
        raise _one_line(exc, source) from None
    parse_mqtt_url(cfg.mqtt.url)
    if cfg.mqtt.ca_file and not cfg.mqtt.url.startswith("mqtts:"):
        raise ConfigError(f"{source}: mqtt.ca_file: a CA file needs an mqtts:// url")
    if cfg.mqtt.ca_file and not os.access(cfg.mqtt.ca_file, os.R_OK):
        raise ConfigError(f"{source}: mqtt.ca_file: cannot read {cfg.mqtt.ca_file}")
    cfg.http_hostport()
    if cfg.registry_file:
        reg = Path(cfg.registry_file)
        if not reg.is_absolute() and path is not None:
            reg = Path(path).parent / reg
        cfg.nodes = [*cfg.nodes, *load_registry(reg)]
    seen: set[str] = set()
    for n in cfg.nodes:
        if n.node in seen:
            raise ConfigError(f"{source}: nodes: node {n.node!r} listed twice")
        seen.add(n.node)
    from central.fleet import check_fleet, register_site_nodes  # central.fleet imports us
    check_fleet(cfg, source)
    register_site_nodes(cfg)
    return cfg
