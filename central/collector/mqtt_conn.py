"""Point a paho client at central's broker: credentials, verified TLS for mqtts://, TCP_NODELAY."""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import ssl
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from central.config import CentralConfig, parse_mqtt_url
from protocol.topics import SHARE_GROUP

log = logging.getLogger(__name__)


def configure_client(client: mqtt.Client, cfg: CentralConfig) -> tuple[str, int]:
    """Set the URL's user/password and TLS (mqtts://) on client; returns (host, port).

    TLS verifies the broker's certificate and host name against mqtt.ca_file, or against the
    system CAs when no file is configured.
    """
    host, port, user, pw = parse_mqtt_url(cfg.mqtt.url)
    if user:
        client.username_pw_set(user, pw)
    if urlsplit(cfg.mqtt.url).scheme == "mqtts":
        client.tls_set(ca_certs=cfg.mqtt.ca_file, cert_reqs=ssl.CERT_REQUIRED,
                       tls_version=ssl.PROTOCOL_TLS_CLIENT)
        log.debug("MQTT over TLS to %s:%d (CA: %s)", host, port,
                  cfg.mqtt.ca_file or "system store")
    return host, port


def share_group(cfg: CentralConfig) -> str:
    """The collectors' MQTT 5 shared-subscription group name.

    The broker ACL cannot stop a node from subscribing to ``$share/<group>/...``: mosquitto's
    acl_file grants every SUBSCRIBE and checks read rights per message, and in a shared group
    it hands a message to ONE member, then drops it if that member may not read it. A node
    that joined the collectors' group would so take a share of every node's telemetry, births
    and acks away from central. So the name is secret: ``[mqtt] share_group``, else derived
    from central's broker password (which every collector holds and no node does), else the
    public ``collectors`` (a broker without passwords for central)."""
    if cfg.mqtt.share_group:
        return cfg.mqtt.share_group
    _, _, _, password = parse_mqtt_url(cfg.mqtt.url)
    if not password:
        return SHARE_GROUP
    mac = hmac.new(password.encode(), b"kotanet collectors share group", hashlib.sha256)
    return f"{SHARE_GROUP}-{mac.hexdigest()[:24]}"


def tcp_nodelay(client: mqtt.Client) -> None:
    """Disable Nagle on the client's socket: MQTT packets are small and latency-bound."""
    sock = client.socket()
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr,attr-defined]
        except (OSError, AttributeError):
            pass
