"""Point a paho client at central's broker: credentials, verified TLS for mqtts://, TCP_NODELAY."""

from __future__ import annotations

import logging
import socket
import ssl
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt

from central.config import CentralConfig, parse_mqtt_url

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


def tcp_nodelay(client: mqtt.Client) -> None:
    """Disable Nagle on the client's socket: MQTT packets are small and latency-bound."""
    sock = client.socket()
    if sock is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr,attr-defined]
        except (OSError, AttributeError):
            pass
