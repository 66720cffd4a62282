"""A birth's gate state (cmd_epoch with its signed proof, applied_version) raises central's
epoch and version counter after its command database was lost or restored; never lowers them
(unit level, no broker). Births here carry a valid proof of cmd_epoch (a command signed with
central's key); claims without one: test_commands_epoch_claims.py."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from central.commands.leader import LeaderLease
from central.commands.service import MAX_BIRTH_FLOOR, CommandService
from central.commands.store import LEASE_NAME, CommandStore
from protocol.messages import Birth
from protocol.topics import Topics
from tests.cmdkeys import SIGNER, signed
from tests.dbread import read_rows

SITE = "taman-kota"
NODE = "tk-01"


class Clock:
    """A settable wall clock in ms."""

    def __init__(self, now_ms: int = 1_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


class Sink:
    """Publisher double: remembers (topic, payload, expiry_s)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int]] = []

    def publish(self, topic: str, payload: bytes, expiry_s: int) -> None:
        self.sent.append((topic, payload, expiry_s))


def proof(node: str, epoch: int, site: str = SITE) -> dict[str, Any]:
    """The signed command (as a node keeps it) that showed ``node`` the epoch ``epoch``."""
    return signed({"site": site, "node": node, "ts_ms": 1, "cmd_id": f"p-{node}-{epoch}",
                   "kind": "failback", "version": 1, "epoch": epoch, "issued_at_ms": 1,
                   "expires_at_ms": 60_001}).model_dump(mode="json", by_alias=True)


def birth(node: str = NODE, *, proved: bool = True, **fields: Any) -> Birth:
    """A birth of node with the given fields (older agents: no cmd_epoch/applied_version);
    a cmd_epoch comes with its signed proof unless ``proved`` is False."""
    if proved and fields.get("cmd_epoch"):
        fields["epoch_proof"] = proof(node, fields["cmd_epoch"])
    return Birth.model_validate({
        "site": SITE, "node": node, "ts_ms": 1, "session": 1, "boot_id": "b",
        "agent_version": "t", "config_hash": "h", "role": "park",
        "clock": {"synced": False, "wall_ms": 1}, **fields})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(state_db: str) -> Iterator[CommandStore]:
    s = CommandStore(state_db)
    yield s
    s.close()


@pytest.fixture
def svc(store: CommandStore, clock: Clock) -> CommandService:
    return CommandService(store, Sink(), Topics(), "unit", clock_ms=clock, signer=SIGNER)


def test_older_birth_without_the_fields_reads_as_zero_and_raises_nothing(
        svc: CommandService) -> None:
    b = birth()
    assert (b.cmd_epoch, b.applied_version) == (0, 0)
    assert svc.raise_floors(b) == (False, False)
    assert svc.store.version(NODE) == 0 and svc.store.current_epoch() == 0
    assert svc.store.lease_info(LEASE_NAME) is None  # nothing written


def test_applied_version_raises_the_counter_for_every_kind(svc: CommandService,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    svc.issue(NODE, SITE, "set_throttle", {"down_kbps": 2000}, 30)  # counter 1, desired v1
    with caplog.at_level(logging.WARNING, "central.commands"):
        resent = svc.on_birth(birth(applied_version=12, throttle_version=1, cmd_epoch=0))
    assert "applied version 12, central's counter is at 1" in caplog.text
    # the node's v1 is not central's v1 (central's history was lost): the desired throttle
    # is re-sent above what the node has applied, although the version numbers were equal
    assert resent is not None and resent.version == 13
    assert (svc.status(resent.cmd_id) or {}).get("origin") == "birth"
    assert resent.params == {"down_kbps": 2000}
    # the next command of any kind is above that too
    assert svc.issue(NODE, SITE, "failover", {}, 30).version == 14
    assert svc.issue(NODE, SITE, "clear_throttle", {}, 30).version == 15


def test_version_is_never_lowered(svc: CommandService) -> None:
    for _ in range(5):
        svc.issue(NODE, SITE, "failback", {}, 30)
    assert svc.raise_floors(birth(applied_version=3, throttle_version=2)) == (False, False)
    assert svc.store.version(NODE) == 5
    assert svc.store.raise_version(NODE, 4) == (5, 5)
    assert svc.store.version(NODE) == 5


def test_throttle_version_of_an_older_agent_still_raises_the_counter(
        svc: CommandService) -> None:
    svc.on_birth(birth(throttle_version=7))  # no applied_version: older agent
    assert svc.store.version(NODE) == 7
    assert svc.issue(NODE, SITE, "set_throttle", {"down_kbps": 900}, 30).version == 8


def test_birth_resend_uses_the_raised_epoch_and_version(svc: CommandService) -> None:
    svc.issue(NODE, SITE, "set_throttle", {"down_kbps": 2000}, 30)  # restored DB: desired v1
    resent = svc.on_birth(birth(applied_version=20, throttle_version=15, cmd_epoch=6))
    assert resent is not None and resent.params == {"down_kbps": 2000}
    assert resent.version == 21 and resent.epoch == 7


def test_epoch_above_every_granted_one_raises_the_lease_to_seen_plus_one(
        svc: CommandService, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    lease = LeaderLease(svc.store, "inst-a", ttl_s=30, clock_ms=clock)
    assert lease.tick() and lease.epoch == 1
    with caplog.at_level(logging.WARNING, "central.commands"):
        assert svc.raise_floors(birth(cmd_epoch=9)) == (False, True)
    assert "has seen epoch 9, ours is 1" in caplog.text and "raising the epoch to 10" in caplog.text
    info = svc.store.lease_info(LEASE_NAME)
    assert info is not None and (info["holder"], info["epoch"]) == ("inst-a", 10)
    # operator commands carry the highest epoch at once
    assert svc.issue(NODE, SITE, "set_throttle", {"down_kbps": 2000}, 30).epoch == 10
    # the holder picks it up on its next tick, keeping the lease
    assert lease.tick() and lease.epoch == 10 and lease.is_leader


def test_equal_or_lower_epoch_changes_nothing(svc: CommandService, clock: Clock) -> None:
    lease = LeaderLease(svc.store, "inst-a", ttl_s=30, clock_ms=clock)
    assert lease.tick() and lease.epoch == 1
    svc.store.raise_epoch(4, clock())  # -> 5
    assert lease.tick() and lease.epoch == 5
    for seen in (0, 3, 5):  # 5 = a node that saw the current leader: the normal case
        assert svc.raise_floors(birth(cmd_epoch=seen)) == (False, False)
        assert svc.store.current_epoch() == 5
    assert svc.store.raise_epoch(2, clock()) == (5, 5)
    assert lease.tick() and lease.epoch == 5


def test_raise_without_a_lease_row_leaves_the_lease_free(svc: CommandService,
                                                         clock: Clock) -> None:
    assert svc.raise_floors(birth(cmd_epoch=9)) == (False, True)
    info = svc.store.lease_info(LEASE_NAME)
    assert info is not None and info["epoch"] == 10 and info["expires_ms"] == 0
    assert svc.issue(NODE, SITE, "reboot", {}, 30).epoch == 10
    lease = LeaderLease(svc.store, "inst-a", ttl_s=30, clock_ms=clock)
    assert lease.tick() and lease.epoch == 11  # taking the free lease bumps as usual


def test_deposed_leader_stays_fenced_and_cannot_take_the_raised_lease(
        state_db: str, clock: Clock) -> None:
    a_store, b_store = CommandStore(state_db), CommandStore(state_db)
    try:
        a = LeaderLease(a_store, "inst-a", ttl_s=10, clock_ms=clock)
        b = LeaderLease(b_store, "inst-b", ttl_s=10, clock_ms=clock)
        assert a.tick() and a.epoch == 1
        clock.now_ms += 11_000  # A pauses; its lease lapses; B takes over
        assert b.tick() and b.epoch == 2
        svc_b = CommandService(b_store, Sink(), Topics(), "inst-b", clock_ms=clock,
                               signer=SIGNER)
        svc_b.on_birth(birth(cmd_epoch=9))  # a node of the lost history
        assert b.tick() and b.epoch == 10
        assert a.epoch == 1  # A (not ticked yet) would still stamp 1 < 10: rejected stale
        assert not a.tick() and a.epoch is None  # and it learns it is not leader
        assert b_store.current_epoch() == 10
    finally:
        a_store.close()
        b_store.close()


def test_concurrent_raises_from_several_instances_end_at_seen_plus_one(
        state_db: str, clock: Clock) -> None:
    stores = [CommandStore(state_db) for _ in range(4)]
    try:
        LeaderLease(stores[0], "inst-0", ttl_s=30, clock_ms=clock).tick()
        svcs = [CommandService(s, Sink(), Topics(), f"inst-{i}", clock_ms=clock, signer=SIGNER)
                for i, s in enumerate(stores)]
        seen = [9, 9, 7, 9]
        threads = [threading.Thread(target=s.on_birth, args=(birth(f"n{i}", cmd_epoch=e),))
                   for i, (s, e) in enumerate(zip(svcs, seen, strict=True))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert stores[0].current_epoch() == 10
        assert read_rows(state_db, "SELECT COUNT(*) AS n FROM leader_lease") == [{"n": 1}]
    finally:
        for s in stores:
            s.close()


def test_absurd_values_are_ignored(svc: CommandService) -> None:
    huge = MAX_BIRTH_FLOOR + 1
    assert svc.raise_floors(birth(cmd_epoch=huge, applied_version=3)) == (False, False)
    assert svc.raise_floors(birth(applied_version=huge)) == (False, False)
    assert svc.store.version(NODE) == 0 and svc.store.current_epoch() == 0
