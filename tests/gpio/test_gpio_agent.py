"""A real Agent on the real test broker drives the mock LEDs through status_from + update."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from gpiotest_helpers import PINS, wait_for
from gpiozero.pins.mock import MockFactory
from paho.mqtt.enums import CallbackAPIVersion

from agent.config import parse_config
from agent.controllers.leds import GpioController
from agent.controllers.status import status_from
from agent.runtime import Agent
from protocol.codec import encode
from protocol.messages import CentralState
from protocol.topics import Topics
from provisioning.localbroker import LocalBroker

NODE = "gpio-node-1"
INSTANCE = "gpio-test-central"
SUPERUSER = "kt-test"  # added by the session broker fixture (tests/conftest.py)


@pytest.fixture
def central(broker: LocalBroker) -> Iterator[Callable[[bool], None]]:
    """Publishes (and finally clears) a retained central state, like a central instance."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                         client_id=f"gpio-test-{time.monotonic_ns()}")
    client.username_pw_set(SUPERUSER, broker.passwords[SUPERUSER])
    client.connect(broker.host, broker.port)
    client.loop_start()
    topic = Topics().central_state(INSTANCE)

    def announce(online: bool) -> None:
        st = CentralState(instance=INSTANCE, online=online, epoch=1,
                          ts_ms=int(time.time() * 1000))
        client.publish(topic, encode(st), qos=1, retain=True).wait_for_publish(5)

    yield announce
    client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


@pytest.mark.broker
def test_real_agent_status_reaches_the_leds(broker: LocalBroker, tmp_path: Path,
                                            factory: MockFactory, closing: Callable[[Any], Any],
                                            central: Callable[[bool], None]) -> None:
    broker.add_user(NODE, "pw-gpio-node-1")
    cfg = parse_config({
        "node": {"id": NODE, "site": "taman-kota"},
        "mqtt": {"url": f"mqtt://{broker.host}:{broker.port}", "password": "pw-gpio-node-1",
                 "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        "agent": {"state_dir": str(tmp_path), "sample_interval_s": 0.5},
    })
    ctl = closing(GpioController(PINS, pin_factory=factory))
    agent = Agent(cfg, probes=[], simulated=True)
    assert ctl.update(status_from(agent)).text == "broker lost, reconnecting"
    green, amber, red = (factory.pin(p) for p in (17, 27, 22))
    agent.start()
    try:
        assert wait_for(lambda: ctl.update(status_from(agent)).text == "degraded: central offline",
                        timeout=15), ctl.pattern
        assert (green.state, amber.state, red.state) == (True, True, False)
        central(True)
        assert wait_for(lambda: ctl.update(status_from(agent)).text == "ok", timeout=15), \
            ctl.pattern
        assert (green.state, amber.state, red.state) == (True, False, False)
    finally:
        agent.stop()
