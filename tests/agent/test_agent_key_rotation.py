"""Key rotation without downtime: the next key is announced signed by the current one, trusted
alongside it (persisted in the state dir) until central retires the old key."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import CommandsSection
from agent.controllers.commands import CommandController
from central.commands.service import CommandService
from central.commands.signer import CommandSigner
from protocol.codec import encode
from protocol.commands import KEY_COMMAND_KIND
from protocol.messages import Birth, Command, CommandAck
from protocol.signing import b64url
from protocol.topics import Topics

K1, K2, K3 = (Ed25519PrivateKey.generate() for _ in range(3))


class Host:
    """No controllers: failback is unsupported, which is enough to see the gate pass."""

    shaping = None
    failover = None

    def add_event(self, kind: str, severity: str, message: str, data: dict[str, Any]) -> None:
        pass


class Link:
    """Collects acks."""

    def __init__(self) -> None:
        self.acks: list[CommandAck] = []

    def send_ack(self, cmd: Command, ack: CommandAck) -> None:
        self.acks.append(ack)

    def publish_birth(self) -> None:
        pass

    def resync_now(self) -> None:
        pass


class Node:
    """A command controller trusting K1 from its config, state in a directory."""

    def __init__(self, state: Path) -> None:
        self.link = Link()
        cfg = CommandsSection(keys={CommandSigner(K1).key_id: b64url(CommandSigner(K1).public_key)})
        self.ctl = CommandController("s1", "n1", state, Host(), self.link, time.monotonic,
                                     trust=cfg)
        self.version = 0

    def send(self, signer: CommandSigner, kind: str = "resync",
             params: dict[str, Any] | None = None) -> tuple[str, str]:
        """One signed command through the controller; its final (stage, code)."""
        self.version += 1
        now = int(time.time() * 1000)
        cmd = signer.sign(Command.model_validate({
            "site": "s1", "node": "n1", "ts_ms": now, "cmd_id": f"c{self.version}-{now}",
            "kind": kind, "version": self.version + 100, "epoch": 1, "issued_at_ms": now,
            "expires_at_ms": now + 30_000, "params": params or {}}))
        self.ctl.on_command(cmd, time.monotonic(), None, clock_synced=False, raw=encode(cmd))
        last = [a for a in self.link.acks if a.cmd_id == cmd.cmd_id][-1]
        return last.stage, last.code

    def announce(self, signer: CommandSigner) -> tuple[str, str]:
        ann = signer.announcement(int(time.time() * 1000))
        assert ann is not None
        return self.send(signer, KEY_COMMAND_KIND, {"announcement": ann})


def test_rotation_next_key_alongside_then_old_retired(tmp_path: Path) -> None:
    node = Node(tmp_path)
    old, new = CommandSigner(K1), CommandSigner(K2)
    assert node.send(new) == ("rejected", "unknown_key")  # not announced yet
    assert node.announce(CommandSigner(K1, next_key=K2)) == ("applied", "ok")
    assert node.ctl.trust.ring.ids() == sorted([old.key_id, new.key_id])
    assert node.send(new) == ("applied", "ok")  # the new key is accepted ...
    assert node.send(old) == ("applied", "ok")  # ... and the old one still is
    # a node restart keeps the announced key (state dir), the config still names only K1
    again = Node(tmp_path)
    again.version = node.version
    assert again.send(new) == ("applied", "ok")
    # central switches to K2 and retires K1
    time.sleep(0.002)  # announcements must be newer than the last applied one
    assert again.announce(CommandSigner(K2, retire=(old.key_id,))) == ("applied", "ok")
    assert again.ctl.trust.ring.ids() == [new.key_id]
    assert again.send(old) == ("rejected", "unknown_key")
    assert again.send(new) == ("applied", "ok")
    # retired for good: the config's K1 is not trusted again after a restart
    third = Node(tmp_path)
    third.version = again.version
    assert third.send(old) == ("rejected", "unknown_key")
    assert third.send(new) == ("applied", "ok")


def test_announcements_from_untrusted_keys_or_replayed_change_nothing(tmp_path: Path) -> None:
    node = Node(tmp_path)
    rogue = CommandSigner(K3, next_key=K2)
    assert node.announce(rogue) == ("rejected", "unknown_key")
    # an announcement by K3 smuggled inside a command central signed: the inner signature counts
    ann = rogue.announcement(int(time.time() * 1000))
    assert node.send(CommandSigner(K1), KEY_COMMAND_KIND,
                     {"announcement": ann}) == ("rejected", "unknown_key")
    assert node.ctl.trust.ring.ids() == [CommandSigner(K1).key_id]
    good = CommandSigner(K1, next_key=K2).announcement(int(time.time() * 1000))
    assert node.send(CommandSigner(K1), KEY_COMMAND_KIND,
                     {"announcement": good}) == ("applied", "ok")
    assert node.send(CommandSigner(K1), KEY_COMMAND_KIND,
                     {"announcement": good}) == ("rejected", "replayed")
    bad = {**good, "public_key": b64url(CommandSigner(K3).public_key)}
    assert node.send(CommandSigner(K1), KEY_COMMAND_KIND,
                     {"announcement": bad}) == ("rejected", "bad_signature")


@pytest.mark.parametrize("missing", ["next", "retire"])
def test_central_announces_on_birth_only_when_the_node_needs_it(missing: str) -> None:
    old, new = CommandSigner(K1), CommandSigner(K2)
    signer = (CommandSigner(K1, next_key=K2) if missing == "next"
              else CommandSigner(K2, retire=(old.key_id,)))

    class Store:
        """Only what on_birth touches when nothing must be raised."""

        def version(self, node: str) -> int:
            return 0

        def current_epoch(self) -> int:
            return 0

        def desired(self, node: str) -> None:
            return None

        def new_command(self, rec: dict[str, Any], **_: Any) -> dict[str, Any]:
            return {**rec, "version": 1, "epoch": 0}

    sent: list[bytes] = []

    class Sink:
        def publish(self, topic: str, payload: bytes, expiry_s: int) -> None:
            sent.append(payload)

    def birth(**fields: Any) -> Birth:
        return Birth.model_validate({
            "site": "s1", "node": "n1", "ts_ms": 1, "session": 1, "boot_id": "b",
            "agent_version": "t", "config_hash": "h", "role": "park",
            "clock": {"synced": False, "wall_ms": 1}, **fields})

    svc = CommandService(Store(), Sink(), Topics(), "unit", signer=signer)  # type: ignore[arg-type]
    svc.on_birth(birth(cmd_key_ids=[old.key_id]))
    assert len(sent) == 1 and KEY_COMMAND_KIND.encode() in sent[0]
    assert signer.verify(json.loads(sent[0]))
    svc.on_birth(birth(cmd_key_ids=[old.key_id, new.key_id] if missing == "next"
                       else [new.key_id]))
    svc.on_birth(birth())  # an agent that does not verify: nothing to announce
    assert len(sent) == 1
