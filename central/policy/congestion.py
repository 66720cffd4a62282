"""Congestion of a shared upstream from its nodes' RTT and loss, with hysteresis and hold times."""

from __future__ import annotations

import statistics
from collections.abc import Iterable

from central.policy.model import GroupState, NodeObs, PolicyConfig


def node_signal(obs: NodeObs) -> tuple[float | None, float | None]:
    """RTT and loss of the node's active uplink(s) (worst of them; all uplinks if none active)."""
    ups = [u for u in obs.uplinks if u.active] or list(obs.uplinks)
    rtts = [u.rtt_ms for u in ups if u.rtt_ms is not None]
    losses = [u.loss_pct for u in ups if u.loss_pct is not None]
    return (max(rtts) if rtts else None), (max(losses) if losses else None)


def group_signal(observations: Iterable[NodeObs]) -> tuple[float | None, float | None]:
    """Median over the group's online nodes, so one node's local trouble is not the upstream's."""
    rtts, losses = [], []
    for obs in observations:
        rtt, loss = node_signal(obs)
        if rtt is not None:
            rtts.append(rtt)
        if loss is not None:
            losses.append(loss)
    return (statistics.median(rtts) if rtts else None,
            statistics.median(losses) if losses else None)


def update(gs: GroupState, observations: Iterable[NodeObs], now_ms: int,
           cfg: PolicyConfig) -> GroupState:
    """Advance one group's tracker by one tick (returns a new GroupState)."""
    rtt, loss = group_signal(observations)
    g = GroupState(**vars(gs))
    if rtt is None and loss is None:
        return g  # nobody reporting: no evidence either way
    if rtt is not None:
        if g.baseline_rtt_ms is None or rtt < g.baseline_rtt_ms:
            g.baseline_rtt_ms = rtt
        elif rtt - g.baseline_rtt_ms < cfg.rtt_rise_off_ms:
            g.baseline_rtt_ms += (rtt - g.baseline_rtt_ms) * 0.02  # follow slow path changes
    rise = (rtt - g.baseline_rtt_ms) if rtt is not None and g.baseline_rtt_ms is not None else 0.0
    loss = loss or 0.0
    g.rtt_rise_ms, g.loss_pct = round(rise, 1), round(loss, 2)
    bad = rise >= cfg.rtt_rise_on_ms or loss >= cfg.loss_on_pct
    good = rise <= cfg.rtt_rise_off_ms and loss <= cfg.loss_off_pct
    g.bad_ticks = g.bad_ticks + 1 if bad else 0
    g.good_since_ms = (g.good_since_ms if g.good_since_ms is not None else now_ms) if good else None
    if not g.congested:
        if g.bad_ticks >= cfg.bad_ticks_on:
            g.congested = True
            g.level, g.level_ms = min(cfg.max_level, g.level + 1), now_ms
        elif good and g.level > 0 and now_ms - g.level_ms >= cfg.hold_ms:
            g.level, g.level_ms = g.level - 1, now_ms  # recover one step per hold time
    elif g.good_since_ms is not None and now_ms - g.good_since_ms >= cfg.clear_hold_ms:
        g.congested = False
    elif bad and g.level < cfg.max_level and now_ms - g.level_ms >= cfg.hold_ms:
        g.level, g.level_ms = g.level + 1, now_ms  # still congested after a hold: one more step
    return g
