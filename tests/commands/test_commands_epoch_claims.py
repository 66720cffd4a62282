"""Epochs are claims: a birth moves central's (fleet-wide) epoch only with a signed proof that
central verifies; a bare, forged, tampered or borrowed claim moves nothing other nodes see."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_commands_floors import NODE, SITE, Clock, Sink, birth, proof

from central.commands.leader import LeaderLease
from central.commands.service import CommandService
from central.commands.signer import CommandSigner
from central.commands.store import CommandStore
from protocol.messages import Command
from protocol.topics import Topics
from tests.cmdkeys import SIGNER

ATTACKER = CommandSigner(Ed25519PrivateKey.generate())


@pytest.fixture
def svc(state_db: str) -> Iterator[CommandService]:
    store = CommandStore(state_db)
    yield CommandService(store, Sink(), Topics(), "unit", clock_ms=Clock(), signer=SIGNER)
    store.close()


def _forged(epoch: int) -> dict[str, Any]:
    p = ATTACKER.sign(Command.model_validate({**proof(NODE, 1), "epoch": epoch, "sig": None}))
    return {**p.model_dump(mode="json", by_alias=True), "key_id": SIGNER.key_id}


def _tampered(epoch: int) -> dict[str, Any]:
    p = proof(NODE, 2)
    p["epoch"] = epoch
    return p


CLAIMS: list[tuple[str, Any]] = [
    ("bare claim", lambda e: None),
    ("forged proof", _forged),
    ("tampered proof", _tampered),
    ("another node's proof", lambda e: proof("tk-02", e)),
    ("another site's proof", lambda e: proof(NODE, e, site="elsewhere")),
    ("an old real proof", lambda e: proof(NODE, 1)),
]


@pytest.mark.parametrize(("case", "make"), CLAIMS, ids=[c[0] for c in CLAIMS])
@pytest.mark.parametrize("claimed", [6, 10**6, 2**62])
def test_a_claim_without_valid_proof_moves_only_its_own_nodes_epoch(svc: CommandService, case: str, make: Any,
                                                    claimed: int) -> None:
    lease = LeaderLease(svc.store, "inst-a", ttl_s=30, clock_ms=Clock())
    assert lease.tick() and lease.epoch == 1
    svc.issue("tk-03", SITE, "failback", {}, 30)
    svc.on_birth(birth(cmd_epoch=claimed, applied_version=4, proved=False,
                       epoch_proof=make(claimed)))
    assert svc.store.current_epoch() == 1  # central's epoch
    assert svc.issue("tk-03", SITE, "failback", {}, 30).epoch == 1  # what other nodes see
    # the claimer's own commands (only its own: a per-node offset) go above what it claims
    assert svc.issue(NODE, SITE, "failback", {}, 30).epoch == claimed + 1
    assert svc.issue("tk-03", SITE, "failback", {}, 30).epoch == 1  # still 1 for the others
    assert lease.tick() and lease.epoch == 1  # the leader keeps leading with its epoch
    assert svc.store.version(NODE) == 5  # the node's own version floor still rose (4), +1


def test_a_valid_signed_proof_of_a_higher_epoch_raises_it(svc: CommandService) -> None:
    """The database-loss case: the node's last command was signed by central's own key."""
    lease = LeaderLease(svc.store, "inst-a", ttl_s=30, clock_ms=Clock())
    assert lease.tick() and lease.epoch == 1
    assert svc.raise_floors(birth(cmd_epoch=7, proved=False, epoch_proof=proof(NODE, 7))) == (
        False, True)
    assert svc.store.current_epoch() == 8
    assert svc.issue("tk-03", SITE, "failback", {}, 30).epoch == 8
    assert lease.tick() and lease.epoch == 8


def test_the_proven_epoch_counts_not_the_claimed_one(svc: CommandService) -> None:
    assert svc.raise_floors(birth(cmd_epoch=10**6, proved=False,
                                  epoch_proof=proof(NODE, 5))) == (False, True)
    assert svc.store.current_epoch() == 6


def test_central_without_a_key_cannot_be_moved_by_a_birth(state_db: str) -> None:
    store = CommandStore(state_db)
    try:
        svc = CommandService(store, Sink(), Topics(), "unit", clock_ms=Clock())
        # no key, no proof: only the claimer's own epoch moves (its offset), never central's
        assert svc.raise_floors(birth(cmd_epoch=7, proved=False,
                                      epoch_proof=proof(NODE, 7))) == (False, True)
        assert store.current_epoch() == 0
        assert store.node_epoch(NODE) == 8 and store.node_epoch("tk-03") == 0
    finally:
        store.close()
