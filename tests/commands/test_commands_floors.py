"""A birth's gate state (cmd_epoch, applied_version) raises central's epoch and version counter
after its command database was lost or restored; never lowers them (unit level, no broker)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.commands.leader import LeaderLease
from central.commands.service import MAX_BIRTH_FLOOR, CommandService
from central.commands.store import LEASE_NAME, CommandStore
from protocol.messages import Birth
from protocol.topics import Topics

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


def birth(node: str = NODE, **fields: Any) -> Birth:
    """A birth of node with the given fields (older agents: no cmd_epoch/applied_version)."""
    return Birth.model_validate({
        "site": SITE, "node": node, "ts_ms": 1, "session": 1, "boot_id": "b",
        "agent_version": "t", "config_hash": "h", "role": "park",
        "clock": {"synced": False, "wall_ms": 1}, **fields})


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CommandStore]:
    s = CommandStore(tmp_path / "state.db")
    yield s
    s.close()


@pytest.fixture
def svc(store: CommandStore, clock: Clock) -> CommandService:
    return CommandService(store, Sink(), Topics(), "unit", clock_ms=clock)


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


def test_unverified_epoch_raises_only_that_nodes_epoch(
        svc: CommandService, clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    lease = LeaderLease(svc.store, "inst-a", ttl_s=30, clock_ms=clock)
    assert lease.tick() and lease.epoch == 1
    with caplog.at_level(logging.WARNING, "central.commands"):
        assert svc.raise_floors(birth(cmd_epoch=9)) == (False, True)
    assert "has seen epoch 9, central's next for it is 1" in caplog.text
    assert "raising this node's epoch to 10 (no other node's)" in caplog.text
    # the lease (what every other node sees) did not move; this node's commands carry 10
    assert svc.store.current_epoch() == 1
    assert svc.issue(NODE, SITE, "set_throttle", {"down_kbps": 2000}, 30).epoch == 10
    assert svc.issue("tk-02", SITE, "set_throttle", {"down_kbps": 2000}, 30).epoch == 1
    assert lease.tick() and lease.epoch == 1 and lease.is_leader
    # a new leader term moves this node's epoch along with everyone's (fencing keeps working)
    lease.release()
    assert lease.tick() and lease.epoch == 2
    assert svc.issue(NODE, SITE, "failover", {}, 30).epoch == 11


def test_epoch_central_issued_to_that_node_is_evidence_for_the_lease(
        svc: CommandService, clock: Clock) -> None:
    lease = LeaderLease(svc.store, "inst-a", ttl_s=30, clock_ms=clock)
    for _ in range(4):
        assert lease.tick()
        lease.release()
    assert lease.tick() and lease.epoch == 5
    svc.issue(NODE, SITE, "set_throttle", {"down_kbps": 2000}, 30)  # recorded at epoch 5
    db = sqlite3.connect(svc.store.path)  # the lease row is lost, the command records kept
    try:
        with db:
            db.execute("DELETE FROM leader_lease")
    finally:
        db.close()
    assert svc.store.current_epoch() == 0
    assert svc.raise_floors(birth(cmd_epoch=5)) == (False, True)
    assert svc.store.current_epoch() == 6  # verified by central's own records


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


def test_raise_without_a_lease_row_leaves_the_lease_untouched(svc: CommandService,
                                                              clock: Clock) -> None:
    assert svc.raise_floors(birth(cmd_epoch=9)) == (False, True)
    assert svc.store.lease_info(LEASE_NAME) is None
    assert svc.issue(NODE, SITE, "reboot", {}, 30).epoch == 10
    lease = LeaderLease(svc.store, "inst-a", ttl_s=30, clock_ms=clock)
    assert lease.tick() and lease.epoch == 1  # taking the free lease as usual
    assert svc.issue(NODE, SITE, "reboot", {}, 30).epoch == 11  # still above what it saw


def test_deposed_leader_stays_fenced_from_a_node_whose_epoch_was_raised(
        tmp_path: Path, clock: Clock) -> None:
    a_store, b_store = CommandStore(tmp_path / "s.db"), CommandStore(tmp_path / "s.db")
    try:
        a = LeaderLease(a_store, "inst-a", ttl_s=10, clock_ms=clock)
        b = LeaderLease(b_store, "inst-b", ttl_s=10, clock_ms=clock)
        assert a.tick() and a.epoch == 1
        clock.now_ms += 11_000  # A pauses; its lease lapses; B takes over
        assert b.tick() and b.epoch == 2
        svc_a = CommandService(a_store, Sink(), Topics(), "inst-a", clock_ms=clock)
        svc_b = CommandService(b_store, Sink(), Topics(), "inst-b", clock_ms=clock)
        svc_b.on_birth(birth(cmd_epoch=9))  # a node of the lost history
        assert svc_b.issue(NODE, SITE, "failover", {}, 30, epoch=b.epoch).epoch == 10
        # A (not ticked yet) stamps its own epoch 1 without the node's offset: below 9, refused
        assert svc_a.issue(NODE, SITE, "failover", {}, 30, epoch=a.epoch).epoch == 1
        assert not a.tick() and a.epoch is None  # and it learns it is not leader
        assert b.tick() and b.epoch == 2 and b_store.current_epoch() == 2
    finally:
        a_store.close()
        b_store.close()


def test_concurrent_raises_from_several_instances_move_only_each_nodes_epoch(
        tmp_path: Path, clock: Clock) -> None:
    stores = [CommandStore(tmp_path / "s.db") for _ in range(4)]
    try:
        LeaderLease(stores[0], "inst-0", ttl_s=30, clock_ms=clock).tick()
        svcs = [CommandService(s, Sink(), Topics(), f"inst-{i}", clock_ms=clock)
                for i, s in enumerate(stores)]
        seen = [9, 9, 7, 9]
        threads = [threading.Thread(target=s.on_birth, args=(birth("n1", cmd_epoch=e),))
                   for s, e in zip(svcs, seen, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert stores[0].node_epoch("n1") == 10 and stores[0].node_epoch("n2") == 1
        assert stores[0].current_epoch() == 1
        with sqlite3.connect(tmp_path / "s.db") as db:
            assert db.execute("SELECT COUNT(*) FROM leader_lease").fetchone() == (1,)
    finally:
        for s in stores:
            s.close()


def test_absurd_values_are_ignored(svc: CommandService) -> None:
    huge = MAX_BIRTH_FLOOR + 1
    assert svc.raise_floors(birth(cmd_epoch=huge, applied_version=3)) == (False, False)
    assert svc.raise_floors(birth(applied_version=huge)) == (False, False)
    assert svc.store.version(NODE) == 0 and svc.store.current_epoch() == 0
