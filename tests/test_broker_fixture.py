"""The test broker enforces passwords: the generated hash is accepted by real mosquitto."""

from __future__ import annotations

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties  # noqa: F401

from provisioning.localbroker import LocalBroker
from provisioning.mosquitto import check_password, password_hash


def _connect(broker: LocalBroker, user: str, password: str) -> int:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password)
    rc = c.connect(broker.host, broker.port)
    assert rc == 0
    result: list[int] = []
    c.on_connect = lambda cl, ud, fl, reason, props: result.append(reason.value)
    for _ in range(50):
        c.loop(timeout=0.1)
        if result:
            break
    c.disconnect()
    return result[0]


def test_hash_roundtrip() -> None:
    h = password_hash("s3cret")
    assert h.startswith("$7$101$")
    assert check_password("s3cret", h)
    assert not check_password("wrong", h)


def test_broker_accepts_generated_hash_and_rejects_bad_password(broker: LocalBroker) -> None:
    broker.add_user("node-x", "pw-node-x")
    assert _connect(broker, "node-x", "pw-node-x") == 0
    assert _connect(broker, "node-x", "nope") in (134, 135)  # bad credentials / not authorized
