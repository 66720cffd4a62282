"""Signed commands end to end: a real agent behind real mosquitto, shaping with real tc in a
namespace. Hostile commands published straight to the node's cmd topic with central's broker
credentials are rejected with their reason code and leave tc and the gate untouched; a hostile
node's birth cannot move the epoch central gives every node."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from cmdtest_helpers import SITE, TOPICS, CentralServer, HookFeeder, ShapingNs, wait_for
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from agent.runtime import Agent
from central.commands.signer import CommandSigner
from protocol.codec import encode
from protocol.messages import Birth, Command
from provisioning.localbroker import LocalBroker
from tests.cmdkeys import SIGNER

pytestmark = [pytest.mark.broker, pytest.mark.netns]

ATTACKER = CommandSigner(Ed25519PrivateKey.generate())


def body(to: str, version: int, epoch: int = 1, down: int = 500, **over: Any) -> dict[str, Any]:
    """A set_throttle command body for node ``to`` (fresh cmd_id, 30 s lifetime)."""
    now = int(time.time() * 1000)
    return {"site": SITE, "node": to, "ts_ms": now, "kind": "set_throttle",
            "cmd_id": f"sig-{version}-{time.monotonic_ns()}", "version": version,
            "epoch": epoch, "issued_at_ms": now, "expires_at_ms": now + 30_000,
            "params": {"down_kbps": down}, **over}


def hostile(node: str, good: bytes) -> list[tuple[str, bytes, str, str]]:
    """(case, payload, expected stage, expected code): every one tries to throttle to 500
    kbit/s at a higher epoch (9), so tc or the epoch would show if one got through."""
    forged = ATTACKER.sign(Command.model_validate(body(node, 5, 9)))
    forged = forged.model_copy(update={"key_id": SIGNER.key_id})  # claims central's key
    ok = SIGNER.sign(Command.model_validate(body(node, 6, 9)))
    tampered = ok.model_copy(update={"params": {"down_kbps": 100}})
    return [
        ("unsigned", encode(Command.model_validate(body(node, 5, 9))), "rejected", "unsigned"),
        ("forged", encode(forged), "rejected", "bad_signature"),
        ("tampered", encode(tampered), "rejected", "bad_signature"),
        ("unknown key", encode(ATTACKER.sign(Command.model_validate(body(node, 5, 9)))),
         "rejected", "unknown_key"),
        ("other node", encode(SIGNER.sign(Command.model_validate(
            body(node, 5, 9, node=f"{node}-x")))), "rejected", "wrong_node"),
        ("expired", encode(SIGNER.sign(Command.model_validate(
            body(node, 5, 9, expires_at_ms=int(time.time() * 1000) - 1)))), "expired",
         "expired"),
        ("replayed", good, "rejected", "replayed"),
        ("superseded", encode(SIGNER.sign(Command.model_validate(body(node, 1, 9)))),
         "superseded", "superseded"),
    ]


def test_hostile_commands_are_rejected_and_tc_is_unchanged(
        make_agent: Callable[..., Agent], feeder: HookFeeder, shaping_ns: ShapingNs,
        node_id: str) -> None:
    agent = make_agent(node_id)
    agent.start()
    wait_for(lambda: feeder.of("birth", node_id), what="birth")
    good_cmd = SIGNER.sign(Command.model_validate(body(node_id, 1, 1, down=2000)))
    good = encode(good_cmd)
    feeder.publish_raw(node_id, good)
    wait_for(lambda: ("applied", "ok") in feeder.stages(node_id, good_cmd.cmd_id),
             what="signed command applied")
    assert shaping_ns.down_kbps() == 2000
    tc_before, gate_before = shaping_ns.snapshot(), asdict(agent.gate.state)
    assert "htb" in tc_before

    for case, payload, stage, code in hostile(node_id, good):
        cmd_id = Command.model_validate_json(payload).cmd_id
        acks_before = len(feeder.stages(node_id, cmd_id))
        feeder.publish_raw(node_id, payload)
        got = wait_for(lambda c=cmd_id, n=acks_before: feeder.stages(node_id, c)[n:],  # type: ignore[misc]
                       what=f"ack of the {case} command")
        assert got == [(stage, code)], f"{case}: {got}"
        assert shaping_ns.snapshot() == tc_before, f"{case} changed tc"
        assert asdict(agent.gate.state) == gate_before, f"{case} changed the gate"
    assert shaping_ns.down_kbps() == 2000 and agent.gate.state.highest_epoch == 1

    fresh = SIGNER.sign(Command.model_validate(body(node_id, 2, 2, down=3000)))
    feeder.publish_raw(node_id, encode(fresh))
    wait_for(lambda: ("applied", "ok") in feeder.stages(node_id, fresh.cmd_id),
             what="a correctly signed command applied")
    assert shaping_ns.down_kbps() == 3000 and shaping_ns.snapshot() != tc_before
    assert agent.gate.state.highest_epoch == 2


def test_a_node_configured_without_signatures_keeps_the_old_behaviour(
        make_agent: Callable[..., Agent], feeder: HookFeeder, shaping_ns: ShapingNs,
        node_id: str) -> None:
    agent = make_agent(node_id)
    agent.commands.trust.require_signed = False  # explicit: an old bundle / simulated node
    agent.start()
    wait_for(lambda: feeder.of("birth", node_id), what="birth")
    cmd_id = feeder.send(node_id, 1, params={"down_kbps": 1500}, signer=None)
    wait_for(lambda: ("applied", "ok") in feeder.stages(node_id, cmd_id), what="applied")
    assert shaping_ns.down_kbps() == 1500
    forged = ATTACKER.sign(Command.model_validate(body(node_id, 2, 1, down=700)))
    feeder.publish_raw(node_id, encode(forged.model_copy(update={"key_id": SIGNER.key_id})))
    wait_for(lambda: feeder.stages(node_id, forged.cmd_id), what="forged ack")
    assert feeder.stages(node_id, forged.cmd_id) == [("rejected", "bad_signature")]
    assert shaping_ns.down_kbps() == 1500


def test_a_hostile_birth_cannot_move_the_fleet_epoch(
        central: CentralServer, make_agent: Callable[..., Agent], feeder: HookFeeder,
        shaping_ns: ShapingNs, broker: LocalBroker, node_id: str) -> None:
    agent = make_agent(node_id)
    agent.start()
    wait_for(lambda: feeder.of("birth", node_id), what="birth")
    first = central.service.issue(node_id, SITE, "set_throttle", {"down_kbps": 2000}, 30)
    wait_for(lambda: ("applied", "ok") in feeder.stages(node_id, first.cmd_id), what="applied")
    epoch0 = central.service.store.current_epoch()
    liar = f"{node_id[:50]}-liar"
    broker.add_user(liar, f"pw-{liar}")
    forged = ATTACKER.sign(Command.model_validate(body(liar, 1, 10**9)))
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5, client_id=liar)
    client.username_pw_set(liar, f"pw-{liar}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for proof in (None, {**forged.model_dump(mode="json", by_alias=True),
                             "key_id": SIGNER.key_id}):
            b = Birth.model_validate({
                "site": SITE, "node": liar, "ts_ms": 1, "session": 1, "boot_id": "b",
                "agent_version": "t", "config_hash": "h", "role": "park", "cmd_epoch": 10**9,
                "clock": {"synced": False, "wall_ms": 1}, "epoch_proof": proof})
            seen = len(feeder.of("birth", liar))
            client.publish(TOPICS.node(SITE, liar, "birth"), encode(b),
                           qos=1).wait_for_publish(5)
            wait_for(lambda n=seen: len(feeder.of("birth", liar)) > n,  # type: ignore[misc]
                     what="the liar's birth")
    finally:
        client.disconnect()
        client.loop_stop()
    assert central.service.store.current_epoch() == epoch0
    second = central.service.issue(node_id, SITE, "set_throttle", {"down_kbps": 3000}, 30)
    assert second.epoch == epoch0
    wait_for(lambda: ("applied", "ok") in feeder.stages(node_id, second.cmd_id), what="applied")
    assert shaping_ns.down_kbps() == 3000 and agent.gate.state.highest_epoch == epoch0
