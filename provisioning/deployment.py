"""A deployment directory: settings, the project CA, central's signing key, broker users.

Layout (secrets are mode 0600 and never printed)::

    DIR/deployment.json          settings (broker host/port, topic prefix, NOC URL, ...)
    DIR/pki/ca.crt, ca.key       project CA (EC P-256)
    DIR/pki/signing.key, .pub    central's Ed25519 key for enrolment tokens
    DIR/pki/command.key, .pub    central's Ed25519 key for commands (.pub: raw, base64url)
    DIR/broker/                  mosquitto.conf, passwd, acl, ca.crt, server.crt, server.key
    DIR/secrets/<user>.password  broker service users: central, verifier
    DIR/manifest.json            per node: config hash, bundle, broker users, revoked
    DIR/tokens/used.json         consumed enrolment token ids (central's single-use store)
    DIR/rotations/<node>.json    proof that a rotated node logged in with its new username

A *field kit* (`kotanet-provision fieldkit`) has the same layout but only what a field laptop
needs for `sdcard`, `label` and `verify` of some nodes, and a ``fieldkit.json`` marker; it never
holds the CA key, the signing key or a password hash.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from protocol.signing import b64url, key_id_of, unb64url
from provisioning.agenttoml import BrokerSettings
from provisioning.pki import (
    issue_cert,
    make_ca,
    make_command_key,
    make_signing_key,
    write_secret,
)

log = logging.getLogger(__name__)

SERVICE_USERS = ("central", "verifier")


#: The node page of central's NOC (route "/noc/nodes/{node}" in central/noc; login needed).
DEFAULT_NOC_URL = "https://noc.kotimkab.go.id/noc/nodes/{node}"
#: The install check of central's NOC (route "/install/{node}", no login) for label QR codes.
DEFAULT_INSTALL_URL = "https://noc.kotimkab.go.id/install/{node}"
FIELDKIT_MARKER = "fieldkit.json"


class DeploymentError(RuntimeError):
    """A refusal the technician can act on: a catalogue code and its parameters.

    ``str()`` is the English text (for logs); the CLI prints the message in the chosen language.
    """

    def __init__(self, code: str, **params: object) -> None:
        from provisioning.i18n import Messages  # late: i18n is a leaf, this keeps it one

        self.code, self.params = code, params
        super().__init__(Messages("en")(code, **params))


@dataclass
class Settings:
    """deployment.json."""

    broker_host: str = "mqtt.kotimkab.go.id"
    broker_port: int = 8883
    broker_names: list[str] = field(default_factory=list)
    broker_bind: str = "0.0.0.0"
    broker_run_as: str | None = None
    broker_etc: str = "/etc/mosquitto/kotanet"
    broker_data: str | None = "/var/lib/mosquitto"
    broker_log: str | None = "/var/log/mosquitto/mosquitto.log"
    topic_prefix: str = "kotanet/v1"
    auth: str = "password"
    noc_url: str = DEFAULT_NOC_URL
    install_url: str = DEFAULT_INSTALL_URL
    helpdesk: str = ""
    enroll_url: str = "https://noc.kotimkab.go.id/api/v1/enroll"
    #: central's apt repository for upgrades ("" = https://<host of enroll_url>/apt/)
    apt_url: str = ""
    agent_bin: str = "/usr/bin/kotanet-agent"
    token_ttl_s: int = 72 * 3600

    def apt_repo_url(self) -> str:
        """Central's apt repository (``apt_url``, else ``/apt/`` on the enrolment host)."""
        if self.apt_url:
            return self.apt_url.rstrip("/") + "/"
        parts = urlsplit(self.enroll_url)
        return f"{parts.scheme}://{parts.netloc}/apt/"

    def broker(self) -> BrokerSettings:
        """What nodes need to reach the broker."""
        return BrokerSettings(self.broker_host, self.broker_port, self.topic_prefix, self.auth)


class Deployment:
    """Paths and settings of one deployment directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.pki = self.root / "pki"
        self.broker_dir = self.root / "broker"
        self.secrets = self.root / "secrets"
        self.manifest_path = self.root / "manifest.json"
        self.used_tokens = self.root / "tokens" / "used.json"
        self._settings: Settings | None = None

    def exists(self) -> bool:
        """True if init has run here (or this is a field kit)."""
        return (self.root / "deployment.json").is_file()

    @property
    def is_fieldkit(self) -> bool:
        """True for a field kit: no CA key, no signing key, tokens minted in advance."""
        return (self.root / FIELDKIT_MARKER).is_file()

    @property
    def settings(self) -> Settings:
        """The deployment settings (read once)."""
        if self._settings is None:
            if not self.exists():
                raise DeploymentError("no_deployment", dir=self.root)
            data = json.loads((self.root / "deployment.json").read_text())
            if "install_url" not in data:  # made before labels had an install check
                data["install_url"] = _install_url_like(data.get("noc_url", DEFAULT_NOC_URL))
            self._settings = Settings(**data)
        return self._settings

    def bundle(self, entry: dict[str, Any]) -> Path:
        """A manifest entry's bundle directory (a field kit stores it relative to its root)."""
        path = Path(str(entry["bundle"]))
        return self.root / path if self.is_fieldkit and not path.is_absolute() else path

    def service_password(self, user: str) -> str:
        """Password of a broker service user (central, verifier)."""
        return (self.secrets / f"{user}.password").read_text().strip()

    def read(self, name: str) -> bytes:
        """A file under pki/."""
        return (self.pki / name).read_bytes()


def _install_url_like(noc_url: str) -> str:
    """The install check on the same host as a (possibly customised) NOC URL."""
    parts = urlsplit(noc_url)
    if not parts.scheme or not parts.netloc:
        return DEFAULT_INSTALL_URL
    return f"{parts.scheme}://{parts.netloc}/install/{{node}}"


def init_deployment(root: str | Path, settings: Settings) -> Deployment:
    """Create CA, signing key, broker server certificate and service users; refuse to overwrite.

    The caller writes the broker's skeleton files next (``brokerfiles.write_broker_files``)."""
    dep = Deployment(root)
    if dep.exists() or any((dep.root / p).exists() for p in ("pki", "manifest.json", FIELDKIT_MARKER)):
        raise DeploymentError("init_exists", dir=dep.root)
    dep.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    dep.root.chmod(0o700)  # secrets and password hashes live below
    ca_key, ca_crt = make_ca()
    write_secret(dep.pki / "ca.key", ca_key)
    (dep.pki / "ca.crt").write_bytes(ca_crt)
    sig_key, sig_pub = make_signing_key()
    write_secret(dep.pki / "signing.key", sig_key)
    (dep.pki / "signing.pub").write_bytes(sig_pub)
    ensure_command_key(dep)
    names = tuple(dict.fromkeys([settings.broker_host, *settings.broker_names]))
    srv_key, srv_crt = issue_cert(ca_key, ca_crt, settings.broker_host, server=True, names=names)
    write_secret(dep.broker_dir / "server.key", srv_key)
    (dep.broker_dir / "server.crt").write_bytes(srv_crt)
    (dep.broker_dir / "ca.crt").write_bytes(ca_crt)
    for user in SERVICE_USERS:
        write_secret(dep.secrets / f"{user}.password", secrets.token_urlsafe(24).encode())
        if settings.auth == "cert":
            key, crt = issue_cert(ca_key, ca_crt, user, server=False)
            write_secret(dep.secrets / f"{user}.key", key)
            (dep.secrets / f"{user}.crt").write_bytes(crt)
    (dep.root / "deployment.json").write_text(json.dumps(asdict(settings), indent=2) + "\n")
    dep._settings = settings
    log.info("deployment initialised in %s (broker files: brokerfiles.write_broker_files)",
             dep.root)
    return dep


def make_next_command_key(dep: Deployment) -> str:
    """Create pki/command.next.key + .pub (step 1 of a key rotation); returns the key id."""
    if (dep.pki / "command.next.key").exists():
        raise DeploymentError("init_exists", dir=dep.pki / "command.next.key")
    key, raw = make_command_key()
    write_secret(dep.pki / "command.next.key", key)
    (dep.pki / "command.next.pub").write_text(b64url(raw) + "\n")
    return key_id_of(raw)


def ensure_command_key(dep: Deployment) -> dict[str, str]:
    """The command public keys nodes trust ({key_id: base64url}: command.pub and, during a
    rotation, command.next.pub); creates pki/command.key first if the deployment has none."""
    pub = dep.pki / "command.pub"
    if not pub.is_file() and not dep.is_fieldkit:
        key, raw = make_command_key()
        write_secret(dep.pki / "command.key", key)
        pub.write_text(b64url(raw) + "\n")
        log.warning("created the command-signing key %s (pki/command.key): give it to central "
                    "as [commands] signing_key_file or KOTANET_COMMAND_KEY", key_id_of(raw))
    keys: dict[str, str] = {}
    for name in ("command.pub", "command.next.pub"):
        if (dep.pki / name).is_file():
            text = (dep.pki / name).read_text().strip()
            keys[key_id_of(unb64url(text))] = text
    return keys
