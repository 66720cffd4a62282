"""A deployment directory: settings, the project CA, central's signing key, broker users.

Layout (secrets are mode 0600 and never printed)::

    DIR/deployment.json          settings (broker host/port, topic prefix, NOC URL, ...)
    DIR/pki/ca.crt, ca.key       project CA (EC P-256)
    DIR/pki/signing.key, .pub    central's Ed25519 key for enrolment tokens
    DIR/broker/                  mosquitto.conf, passwd, acl, ca.crt, server.crt, server.key
    DIR/secrets/<user>.password  broker service users: central, verifier
    DIR/manifest.json            per node: config hash, bundle, broker users, revoked
    DIR/tokens/used.json         consumed enrolment token ids (central's single-use store)
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from provisioning.agenttoml import BrokerSettings
from provisioning.pki import issue_cert, make_ca, make_signing_key, write_secret

log = logging.getLogger(__name__)

SERVICE_USERS = ("central", "verifier")


#: The node page of central's NOC (route "/noc/nodes/{node}" in central/noc) for label QR codes.
DEFAULT_NOC_URL = "https://noc.kotimkab.go.id/noc/nodes/{node}"
#: The default of older deployments: a path central never served (labels now use the default).
LEGACY_NOC_URL = "https://noc.kotimkab.go.id/node/{node}"


class DeploymentError(RuntimeError):
    """The deployment directory is missing or inconsistent."""


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
    enroll_url: str = "https://noc.kotimkab.go.id/api/v1/enroll"
    agent_bin: str = "/usr/bin/kotanet-agent"
    token_ttl_s: int = 72 * 3600

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
        """True if init has run here."""
        return (self.root / "deployment.json").is_file()

    @property
    def settings(self) -> Settings:
        """The deployment settings (read once)."""
        if self._settings is None:
            if not self.exists():
                raise DeploymentError(f"no deployment in {self.root}")
            data = json.loads((self.root / "deployment.json").read_text())
            self._settings = Settings(**data)
        return self._settings

    def service_password(self, user: str) -> str:
        """Password of a broker service user (central, verifier)."""
        return (self.secrets / f"{user}.password").read_text().strip()

    def read(self, name: str) -> bytes:
        """A file under pki/."""
        return (self.pki / name).read_bytes()


def init_deployment(root: str | Path, settings: Settings) -> Deployment:
    """Create CA, signing key, broker server certificate and service users; refuse to overwrite."""
    dep = Deployment(root)
    if dep.exists():
        raise DeploymentError(f"{dep.root} already holds a deployment")
    dep.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    dep.root.chmod(0o700)  # secrets and password hashes live below
    ca_key, ca_crt = make_ca()
    write_secret(dep.pki / "ca.key", ca_key)
    (dep.pki / "ca.crt").write_bytes(ca_crt)
    sig_key, sig_pub = make_signing_key()
    write_secret(dep.pki / "signing.key", sig_key)
    (dep.pki / "signing.pub").write_bytes(sig_pub)
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
    from provisioning.brokerfiles import write_broker_files  # late: brokerfiles imports us

    write_broker_files(dep, {})
    log.info("deployment initialised in %s", dep.root)
    return dep
