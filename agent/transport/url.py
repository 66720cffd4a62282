"""Where and as whom the agent connects: broker URL parsing and credential resolution."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from agent.config import AgentConfig, ConfigError

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


def _is_rotation_alias(username: str, node: str) -> bool:
    """True for ``<node>~g<N>``, the username `kotanet-provision rotate` gives a node."""
    prefix = f"{node}~g"
    return username.startswith(prefix) and username[len(prefix):].isdigit()


@dataclass(frozen=True)
class BrokerTarget:
    """Resolved connection parameters (the password never appears in repr)."""

    host: str
    port: int
    tls: bool
    username: str
    password: str | None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    def __repr__(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        return f"BrokerTarget({scheme}://{self.username}@{self.host}:{self.port})"

    __str__ = __repr__


def _read_password_file(path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"key 'mqtt.password_file': cannot read {path}: {exc.strerror}") from None
    pw = text.strip()
    if not pw:
        raise ConfigError(f"key 'mqtt.password_file': {path} is empty")
    return pw


def _check_file(key: str, path: str | None) -> None:
    if path is not None and not Path(path).is_file():
        raise ConfigError(f"key 'mqtt.{key}': no such file {path}")


def resolve_target(cfg: AgentConfig) -> BrokerTarget:
    """Parse cfg.mqtt.url and combine it with the credential settings; ConfigError if bad.

    Username: mqtt.username, else the URL's user, else the node id.
    Password: mqtt.password, else mqtt.password_file, else the URL's password.
    """
    m = cfg.mqtt
    try:
        parts = urlsplit(m.url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"key 'mqtt.url': {exc}") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise ConfigError(f"key 'mqtt.url': scheme must be mqtt:// or mqtts://, got {parts.scheme!r}")
    if not parts.hostname:
        raise ConfigError("key 'mqtt.url': missing host (e.g. mqtt://broker.example:1883)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError("key 'mqtt.url': must not have a path, query or fragment")
    if m.password is not None and m.password_file is not None:
        raise ConfigError("key 'mqtt.password': set only one of mqtt.password and mqtt.password_file")
    tls = parts.scheme == "mqtts"
    if not tls and (m.ca_file or m.cert_file or m.key_file):
        raise ConfigError("key 'mqtt.ca_file': TLS files need an mqtts:// url")
    if (m.cert_file is None) != (m.key_file is None):
        raise ConfigError("key 'mqtt.cert_file': cert_file and key_file go together")
    for key in ("ca_file", "cert_file", "key_file"):
        _check_file(key, getattr(m, key))
    username = m.username or (unquote(parts.username) if parts.username else None) or cfg.node.id
    if username != cfg.node.id and not _is_rotation_alias(username, cfg.node.id):
        log.warning("MQTT username %r differs from node id %r: broker ACLs expect them equal",
                    username, cfg.node.id)
    if m.password is not None:
        password: str | None = m.password
    elif m.password_file is not None:
        password = _read_password_file(m.password_file)
    else:
        password = unquote(parts.password) if parts.password else None
    return BrokerTarget(host=parts.hostname, port=port or DEFAULT_PORTS[parts.scheme], tls=tls,
                        username=username, password=password, ca_file=m.ca_file,
                        cert_file=m.cert_file, key_file=m.key_file)
