"""Central over mqtts:// against a real TLS-only mosquitto (CA + server cert made here)."""

from __future__ import annotations

import getpass
import json
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from central_helpers import wait_for
from paho.mqtt.enums import CallbackAPIVersion

from central.collector import Collector
from central.collector.stats import Stats
from central.commands.service import MqttPublisher
from central.config import CentralConfig, ConfigError, load_config, parse_mqtt_url
from central.storage import open_storage
from protocol.topics import Topics
from provisioning import pki
from provisioning.localbroker import LocalBroker
from provisioning.mosquitto import mosquitto_conf, password_file

pytestmark = pytest.mark.broker
NODE, SITE = "tls-node-01", "taman-kota"


class TlsBroker(LocalBroker):
    """LocalBroker whose only listener speaks TLS with a server certificate of our CA."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, persistence=False)
        ca_key, ca_crt = pki.make_ca("kotanet test CA")
        key, crt = pki.issue_cert(ca_key, ca_crt, "127.0.0.1", server=True,
                                  names=("127.0.0.1", "localhost"))
        self.ca = self.dir / "ca.crt"
        self.ca.write_bytes(ca_crt)
        (self.dir / "server.crt").write_bytes(crt)
        pki.write_secret(self.dir / "server.key", key)

    def _write_files(self) -> None:
        (self.dir / "passwd").write_text(password_file(self._hashes))
        (self.dir / "acl").write_text(self.acl())
        for name in ("passwd", "acl"):
            (self.dir / name).chmod(0o600)
        (self.dir / "mosquitto.conf").write_text(mosquitto_conf(
            port=self.port, password_file=str(self.dir / "passwd"),
            acl_file=str(self.dir / "acl"), log_file=str(self.log_path), run_as=getpass.getuser(),
            tls={"cafile": str(self.ca), "certfile": str(self.dir / "server.crt"),
                 "keyfile": str(self.dir / "server.key")}))

    def mqtts_url(self, user: str) -> str:
        """mqtts:// URL with the credentials of a known user."""
        return f"mqtts://{user}:{self.passwords[user]}@{self.host}:{self.port}"


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    """A TLS-only mosquitto with users 'central' and one node."""
    b = TlsBroker(tmp_path_factory.mktemp("mosquitto-tls"))
    b.add_user("central", "central-pw-tls", reload=False)
    b.add_user(NODE, "node-pw-tls", reload=False, site=SITE)
    b.start()
    yield b
    b.stop()


def _cfg(db: Path, url: str, ca: Path | None) -> CentralConfig:
    env = {"KOTANET_MQTT_URL": url, "KOTANET_DB": f"sqlite:///{db}", "KOTANET_HTTP": "127.0.0.1:1"}
    if ca is not None:
        env["KOTANET_MQTT_CA"] = str(ca)
    return load_config(None, env=env)


def _node_birth(broker: TlsBroker) -> None:
    """The node's birth over TLS, as an agent sends it."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id=NODE)
    c.username_pw_set(NODE, broker.passwords[NODE])
    c.tls_set(ca_certs=str(broker.ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    c.connect(broker.host, broker.port, keepalive=10)
    c.loop_start()
    try:
        now = int(time.time() * 1000)
        body = {"schema": "kotanet.birth/1", "site": SITE, "node": NODE, "ts_ms": now,
                "session": 1, "boot_id": "b-1", "agent_version": "0.1.0", "config_hash": "h",
                "role": "park", "clock": {"synced": True, "wall_ms": now}}
        c.publish(Topics().node(SITE, NODE, "birth"), json.dumps(body), qos=1).wait_for_publish(5)
    finally:
        c.disconnect()
        c.loop_stop()


def test_central_collects_a_birth_over_mqtts(tls_broker: TlsBroker, tmp_path: Path) -> None:
    cfg = _cfg(tmp_path / "c.db", tls_broker.mqtts_url("central"), tls_broker.ca)
    storage = open_storage(cfg.storage.url)
    col = Collector(cfg, storage, Stats())
    pub = MqttPublisher(cfg)
    try:
        col.start()
        pub.start()
        wait_for(col.ready.is_set, 15, "collector subscribed over TLS")
        wait_for(pub.connected.is_set, 15, "command publisher connected over TLS")
        _node_birth(tls_broker)
        rows = wait_for(lambda: [r for r in storage.list_nodes() if r["node"] == NODE], 10,
                        "the birth stored")
        assert rows[0]["site"] == SITE and rows[0]["online"]
    finally:
        pub.stop()
        col.stop()
        storage.close()


def test_mqtts_verifies_the_broker_certificate(tls_broker: TlsBroker, tmp_path: Path) -> None:
    other_ca = tmp_path / "other-ca.crt"
    other_ca.write_bytes(pki.make_ca("not our CA")[1])
    for ca in (other_ca, None):  # a foreign CA, and the system CAs: both refuse our test cert
        cfg = _cfg(tmp_path / "c.db", tls_broker.mqtts_url("central"), ca)
        storage = open_storage(cfg.storage.url)
        col = Collector(cfg, storage, Stats())
        try:
            col.start()
            time.sleep(2.0)
            assert not col.ready.is_set() and not col.client.is_connected()
        finally:
            col.stop(timeout_s=2)
            storage.close()


def test_mqtts_url_and_ca_file_config(tmp_path: Path) -> None:
    assert parse_mqtt_url("mqtts://c:p%40w@broker.lan") == ("broker.lan", 8883, "c", "p@w")
    assert parse_mqtt_url("mqtt://broker.lan") == ("broker.lan", 1883, None, None)
    ca = tmp_path / "ca.crt"
    ca.write_bytes(pki.make_ca()[1])
    db = tmp_path / "c.db"
    with pytest.raises(ConfigError, match="mqtt.ca_file: a CA file needs an mqtts:// url"):
        _cfg(db, "mqtt://broker.lan", ca)
    with pytest.raises(ConfigError, match="mqtt.ca_file: cannot read"):
        _cfg(db, "mqtts://broker.lan", tmp_path / "missing.crt")
    with pytest.raises(ConfigError, match="mqtt.url"):
        _cfg(db, "ws://broker.lan", None)
    cfg = _cfg(db, "mqtts://broker.lan", ca)
    assert cfg.mqtt.ca_file == str(ca)
