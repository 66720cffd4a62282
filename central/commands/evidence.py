"""Epochs are claims: what a birth proves about the leader epoch a node has seen.

A birth's ``cmd_epoch`` is only a claim (nodes are untrusted). Central believes an epoch above
its own only from ``epoch_proof``: the signed command the node accepted with that epoch, whose
signature central verifies with its own key(s). That is the one birth-driven path that may
raise the fleet-wide lease epoch (the database-loss recovery); without a valid proof the claim
moves nothing other nodes see.
"""

from __future__ import annotations

import logging

from central.commands.signer import CommandSigner
from protocol.messages import Birth

log = logging.getLogger(__name__)


def proven_epoch(birth: Birth, signer: CommandSigner | None) -> int | None:
    """The epoch the birth's proof shows (a command central signed for this very node), or
    None when there is no proof, no key to check it with, or it does not verify."""
    proof = birth.epoch_proof
    if proof is None:
        return None
    if signer is None:
        log.warning("node %s sends an epoch proof but central has no command key to check it",
                    birth.node)
        return None
    epoch = proof.get("epoch")
    if (proof.get("node") != birth.node or proof.get("site") != birth.site
            or not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0):
        log.warning("node %s: epoch proof names another node or has no epoch: ignored",
                    birth.node)
        return None
    if not signer.verify(proof):
        log.warning("node %s: epoch proof (epoch %d) does not verify with central's keys: "
                    "ignored", birth.node, epoch)
        return None
    return epoch
