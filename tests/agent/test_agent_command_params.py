"""The agent's command path checks params with the protocol's one contract (protocol/params.py):
a bad value is acked ``rejected``/``bad_params`` with a detail naming the field, and no
controller is called; failover gets typed values (no float()/str() guessing)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from agent.config import CommandsSection
from agent.controllers.commands import CommandController
from agent.controllers.shaping import Outcome
from protocol.codec import encode
from protocol.messages import Command, CommandAck, Event
from protocol.params import MAX_KBPS, MAX_TIMEOUT_S, MIN_KBPS
from tests import cmdkeys


class Shaper:
    """Records what reaches the shaping controller."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def handle_command(self, kind: str, params: Mapping[str, Any], version: int,
                       now: float) -> Outcome:
        self.calls.append((kind, dict(params)))
        return Outcome("applied", "ok", "", version)


class Failover:
    """Records manual overrides; knows two uplinks."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float | None, str | None]] = []

    def force(self, kind: str, timeout_s: float | None = None,
              target: str | None = None) -> list[Event]:
        if target not in (None, "fiber", "lte"):
            raise ValueError(f"unknown uplink {target!r}")
        self.calls.append((kind, timeout_s, target))
        return []


class Host:
    def __init__(self) -> None:
        self.shaping: Shaper | None = Shaper()
        self.failover: Failover | None = Failover()

    def add_event(self, kind: str, severity: str, message: str, data: dict[str, Any]) -> None:
        pass


class Link:
    def __init__(self) -> None:
        self.acks: list[CommandAck] = []
        self.resyncs = 0

    def send_ack(self, cmd: Command, ack: CommandAck) -> None:
        self.acks.append(ack)

    def publish_birth(self) -> None:
        pass

    def resync_now(self) -> None:
        self.resyncs += 1


class Node:
    """A command controller that trusts the test key, with recording controllers."""

    def __init__(self, state: Path) -> None:
        self.host, self.link, self.reboots = Host(), Link(), 0
        self.ctl = CommandController("s1", "n1", state, self.host, self.link, time.monotonic,
                                     reboot=self._reboot,
                                     trust=CommandsSection(**cmdkeys.agent_commands()))
        self.version = 0

    def _reboot(self) -> None:
        self.reboots += 1

    def send(self, kind: str, params: Any) -> list[CommandAck]:
        """One signed command; its acks."""
        self.version += 1
        now = int(time.time() * 1000)
        cmd = cmdkeys.signed({
            "site": "s1", "node": "n1", "ts_ms": now, "cmd_id": f"c{self.version}",
            "kind": kind, "version": self.version, "epoch": 1, "issued_at_ms": now,
            "expires_at_ms": now + 30_000, "params": params})
        self.ctl.on_command(cmd, time.monotonic(), None, clock_synced=False, raw=encode(cmd))
        return [a for a in self.link.acks if a.cmd_id == cmd.cmd_id]


def stages(acks: list[CommandAck]) -> list[tuple[str, str]]:
    return [(a.stage, a.code) for a in acks]


REJECTED = [("accepted", "ok"), ("rejected", "bad_params")]


@pytest.mark.parametrize(("kind", "params", "field"), [
    ("set_throttle", {"down_kbps": MIN_KBPS - 1}, "down_kbps"),
    ("set_throttle", {"up_kbps": MAX_KBPS + 1}, "up_kbps"),
    ("set_throttle", {"down_kbps": 2000.0}, "down_kbps"),
    ("set_throttle", {"down_kbps": 1000, "per_client_down_kbps": 1001}, "per_client_down_kbps"),
    ("set_throttle", {"down_kbps": 1000, "colour": "red"}, "colour"),
    ("set_throttle", {}, "no rate given"),
    ("clear_throttle", {"down_kbps": 1000}, "down_kbps"),
    # failover/failback: what float()/str() used to let through
    ("failover", {"timeout_s": "60"}, "timeout_s"),
    ("failover", {"timeout_s": True}, "timeout_s"),
    ("failover", {"timeout_s": -5}, "timeout_s"),
    ("failback", {"timeout_s": MAX_TIMEOUT_S + 1}, "timeout_s"),
    ("failover", {"target": 7}, "target"),
    ("failover", {"target": "a/b"}, "target"),
    ("failback", {"tiemout_s": 60}, "tiemout_s"),
    ("resync", {"full": True}, "full"),
    ("reboot", {"now": 1}, "now"),
    ("announce_key", {}, "announcement"),
])
def test_bad_params_are_refused_by_the_contract_before_any_controller(
        tmp_path: Path, kind: str, params: dict[str, Any], field: str) -> None:
    node = Node(tmp_path)
    acks = node.send(kind, params)
    assert stages(acks) == REJECTED
    assert field in acks[-1].detail, acks[-1].detail
    assert node.host.shaping is not None and node.host.shaping.calls == []
    assert node.host.failover is not None and node.host.failover.calls == []
    assert node.link.resyncs == 0 and node.reboots == 0
    assert acks[-1].applied_version == 0  # nothing applied


def test_good_params_reach_the_controllers_typed(tmp_path: Path) -> None:
    node = Node(tmp_path)
    assert stages(node.send("set_throttle", {"down_kbps": MIN_KBPS, "lease_s": 60})) == [
        ("accepted", "ok"), ("applied", "ok")]
    assert node.send("clear_throttle", {})[-1].stage == "applied"
    assert node.host.shaping is not None
    assert node.host.shaping.calls == [("set_throttle", {"down_kbps": MIN_KBPS, "lease_s": 60}),
                                       ("clear_throttle", {})]
    assert node.send("failover", {"target": "lte", "timeout_s": 60})[-1].code == "ok"
    assert node.send("failback", {})[-1].code == "ok"
    assert node.host.failover is not None
    assert node.host.failover.calls == [("failover", 60, "lte"), ("failback", None, None)]
    assert node.send("resync", {})[-1].code == "ok" and node.link.resyncs == 1


def test_a_target_that_is_not_an_uplink_is_bad_params_with_the_reason(tmp_path: Path) -> None:
    node = Node(tmp_path)
    acks = node.send("failover", {"target": "satellite"})
    assert stages(acks) == REJECTED and "satellite" in acks[-1].detail


def test_no_shaping_is_unsupported_but_bad_params_come_first(tmp_path: Path) -> None:
    node = Node(tmp_path)
    node.host.shaping = None
    assert node.send("set_throttle", {"down_kbps": 1000})[-1].code == "unsupported"
    assert node.send("set_throttle", {"down_kbps": 1})[-1].code == "bad_params"
