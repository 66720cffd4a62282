"""Issue 12: a node's birth alone never moves the epoch other nodes see, whatever it claims."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from central.commands.leader import LeaderLease
from central.commands.service import MAX_BIRTH_FLOOR, CommandService
from central.commands.store import CommandStore
from protocol.codec import CodecError, decode
from protocol.messages import Birth
from protocol.topics import Topics
from tests.dbread import read_rows

SITE = "taman-kota"
LIAR, OTHERS = "tk-01", ["tk-02", "tk-03"]
TOPICS = Topics()
CLAIMS = [0, 1, 2, 3, 4, 6, 1000, 2**31, 2**32 + 1, MAX_BIRTH_FLOOR - 1, MAX_BIRTH_FLOOR,
          MAX_BIRTH_FLOOR + 1, 2**63 - 2, 2**63 - 1]
REFUSED = [-1, -(2**63), 2**63, 2**64, -0.5, 1e999, "9", True]


class Sink:
    """Publisher double: remembers what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int]] = []

    def publish(self, topic: str, payload: bytes, expiry_s: int) -> None:
        self.sent.append((topic, payload, expiry_s))


def birth_bytes(node: str, cmd_epoch: object) -> bytes:
    """A birth on the wire from node with the given cmd_epoch (any JSON value)."""
    return json.dumps({
        "schema": "kotanet.birth/1", "site": SITE, "node": node, "ts_ms": 1, "session": 1,
        "boot_id": "b", "agent_version": "t", "config_hash": "h", "role": "park",
        "clock": {"synced": False, "wall_ms": 1}, "cmd_epoch": cmd_epoch,
        "applied_version": 3, "throttle_version": 2}).encode()


@pytest.fixture
def svc(state_db: str) -> Iterator[CommandService]:
    """A command service on both backends (its state tables in SQLite or PostgreSQL)."""
    store = CommandStore(state_db)
    service = CommandService(store, Sink(), TOPICS, "unit")
    yield service
    service.stop()
    store.close()


def _fleet_at_epoch_3(svc: CommandService) -> LeaderLease:
    lease = LeaderLease(svc.store, "inst-a", ttl_s=30)
    for _ in range(2):
        assert lease.tick()
        lease.release()
    assert lease.tick() and lease.epoch == 3
    for node in [LIAR, *OTHERS]:
        svc.issue(node, SITE, "set_throttle", {"down_kbps": 2000}, 30, epoch=lease.epoch)
    return lease


@pytest.mark.parametrize("claim", CLAIMS)
def test_any_claimed_epoch_leaves_central_and_every_other_node_unchanged(
        svc: CommandService, claim: int) -> None:
    lease = _fleet_at_epoch_3(svc)
    _, msg = decode(TOPICS, TOPICS.node(SITE, LIAR, "birth"), birth_bytes(LIAR, claim))
    assert isinstance(msg, Birth)
    for _ in range(3):  # repeated births change nothing more
        svc.on_birth(msg)
    assert svc.store.current_epoch() == 3
    assert lease.tick() and lease.epoch == 3
    for node in OTHERS:
        assert svc.store.node_epoch(node) == 3
        cmd = svc.issue(node, SITE, "set_throttle", {"down_kbps": 1000}, 30, epoch=lease.epoch)
        assert cmd.epoch == 3
    # the claimant's own commands: above its claim when believable, unchanged when absurd
    own = svc.store.node_epoch(LIAR)
    assert own == (claim + 1 if 3 < claim <= MAX_BIRTH_FLOOR else 3)


@pytest.mark.parametrize("state_db", ["sqlite"], indirect=True)  # refused before any store
@pytest.mark.parametrize("claim", REFUSED, ids=repr)
def test_out_of_range_epochs_are_refused_by_the_codec(svc: CommandService,
                                                      claim: object) -> None:
    _fleet_at_epoch_3(svc)
    with pytest.raises(CodecError):
        decode(TOPICS, TOPICS.node(SITE, LIAR, "birth"), birth_bytes(LIAR, claim))
    assert svc.store.current_epoch() == 3
    assert all(svc.store.node_epoch(n) == 3 for n in [LIAR, *OTHERS])


def test_a_birth_flood_stores_one_resend_per_interval(svc: CommandService) -> None:
    svc.issue(LIAR, SITE, "set_throttle", {"down_kbps": 2000}, 30)
    _, msg = decode(TOPICS, TOPICS.node(SITE, LIAR, "birth"), birth_bytes(LIAR, 0))
    assert isinstance(msg, Birth) and msg.throttle_version != 1  # it differs: re-send due
    resent = [svc.on_birth(msg) for _ in range(200)]
    assert sum(r is not None for r in resent) == 1
    assert read_rows(svc.store.path, "SELECT COUNT(*) AS n FROM commands WHERE node = ? AND "
                     "origin = 'birth'", (LIAR,)) == [{"n": 1}]
    other = svc.on_birth(decode(TOPICS, TOPICS.node(SITE, OTHERS[0], "birth"),
                                birth_bytes(OTHERS[0], 0))[1])  # type: ignore[arg-type]
    assert other is None  # no desired state for it: nothing to send, nothing stored
    assert svc.resend_gate.pending() == 1  # the newest birth is handled when the interval ends
    svc.resend_gate.interval_s = 0.0  # the interval has passed: the next birth re-sends again
    assert svc.on_birth(msg) is not None


def test_births_inside_the_interval_end_in_exactly_one_later_resend(svc: CommandService) -> None:
    svc.issue(LIAR, SITE, "set_throttle", {"down_kbps": 2000}, 30)
    svc.resend_gate.interval_s = 0.3
    _, msg = decode(TOPICS, TOPICS.node(SITE, LIAR, "birth"), birth_bytes(LIAR, 0))
    assert isinstance(msg, Birth)
    assert sum(svc.on_birth(msg) is not None for _ in range(50)) == 1

    def births() -> int:
        rows = read_rows(svc.store.path, "SELECT COUNT(*) AS n FROM commands "
                         "WHERE origin = 'birth'")
        return int(rows[0]["n"])

    deadline = time.monotonic() + 5
    while births() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # more than the interval: nothing else is pending
    assert births() == 2 and svc.resend_gate.pending() == 0
