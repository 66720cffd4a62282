"""Presence messages of a node: retained state, birth, and the facts a birth reports."""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from agent import __version__
from agent.clock import clock_synced, wall_ms
from agent.config import AgentConfig
from protocol.messages import Birth, ClockInfo, NodeState, OutboxInfo, UplinkInfo

log = logging.getLogger(__name__)

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


@cache
def boot_id() -> str:
    """The kernel's boot id (changes every boot), or 'unknown'."""
    try:
        with open(BOOT_ID_PATH) as f:
            return f.read().strip() or "unknown"
    except OSError:
        return "unknown"


def node_state(cfg: AgentConfig, session: int, online: bool) -> NodeState:
    """The retained state message (also the Will when online=False)."""
    return NodeState(schema=NodeState.schema_name(), site=cfg.node.site, node=cfg.node.id, ts_ms=wall_ms(), online=online,
                     session=session)


def build_birth(cfg: AgentConfig, session: int, *, throttle_version: int,
                outbox: tuple[int | None, int | None], simulated: bool,
                cmd_epoch: int = 0, applied_version: int = 0,
                cmd_key_ids: list[str] | None = None,
                epoch_proof: dict[str, Any] | None = None,
                files_hash: str | None = None) -> Birth:
    """The birth message of a session (also the reply to resync).

    ``cmd_epoch`` and ``applied_version`` are the command gate's persisted state (highest
    epoch seen, applied version): central raises its epoch and version counter to them when
    its database was lost or restored from an older backup; central believes the epoch only
    from ``epoch_proof``, the signed command that set it.
    """
    return Birth(
        schema=Birth.schema_name(), site=cfg.node.site, node=cfg.node.id, ts_ms=wall_ms(), session=session,
        boot_id=boot_id(), agent_version=__version__, config_hash=cfg.config_hash(),
        role=cfg.node.role,
        uplinks=[UplinkInfo(name=u.name, iface=u.iface, kind=u.kind, priority=u.priority)
                 for u in cfg.uplinks],
        throttle_version=throttle_version,
        cmd_epoch=cmd_epoch,
        applied_version=applied_version,
        outbox=OutboxInfo(oldest_seq=outbox[0], newest_seq=outbox[1]),
        clock=ClockInfo(synced=clock_synced(), wall_ms=wall_ms()),
        simulated=simulated,
        cmd_key_ids=cmd_key_ids or [],
        epoch_proof=epoch_proof,
        files_hash=files_hash,
    )
