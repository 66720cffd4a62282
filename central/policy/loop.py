"""Leader-only background task: run the throttling policy on the latest samples, send commands.

Every ``interval_s`` the loop renews (or tries to take) the leader lease. Only while it leads
does it run the pure engine (central.policy.decide) and issue set_throttle / clear_throttle for
each decision marked ``send`` (changed, new epoch, node back, or renewal due), fenced with the
lease's epoch; it also renews the leases of throttles operators set by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from central.clock import wall_ms
from central.commands.leader import LeaderLease
from central.commands.service import CommandService
from central.policy.engine import decide
from central.policy.model import (
    NodeObs,
    Override,
    PolicyConfig,
    PolicyInputs,
    PolicyState,
    Schedule,
    SiteInfo,
    UplinkObs,
    Upstream,
)
from protocol.messages import Command

log = logging.getLogger(__name__)

InputsFn = Callable[[int, int], PolicyInputs | None]


def observations(rows: Sequence[Mapping[str, Any]]) -> dict[str, NodeObs]:
    """NodeObs per node from central's node list (headline fields of each newest sample)."""
    out: dict[str, NodeObs] = {}
    for r in rows:
        if r.get("last_sample_ms") is None:
            continue
        ups = (UplinkObs(r["active_uplink"], True, r.get("rtt_ms"), r.get("loss_pct")),) \
            if r.get("active_uplink") else ()
        out[r["node"]] = NodeObs(r["node"], int(r["last_sample_ms"]), bool(r["online"]),
                                 r.get("users_total"), ups)
    return out


def inputs_from(list_nodes: Callable[[], list[dict[str, Any]]], sites: Mapping[str, SiteInfo],
                upstreams: Mapping[str, Upstream], schedule: Schedule | None = None,
                overrides: Sequence[Override] = ()) -> InputsFn:
    """An InputsFn over storage.list_nodes and the fleet's contracts and upstream links."""
    def build(now_ms: int, epoch: int) -> PolicyInputs:
        return PolicyInputs(now_ms, epoch, sites, upstreams, observations(list_nodes()),
                            schedule or Schedule(), overrides)
    return build


class PolicyLoop:
    """One central instance's policy loop; only the lease holder issues anything."""

    def __init__(self, service: CommandService, leader: LeaderLease,
                 inputs: InputsFn | None = None, interval_s: float = 10.0,
                 cfg: PolicyConfig | None = None,
                 clock_ms: Callable[[], int] = wall_ms) -> None:
        if not 0 < interval_s < leader.ttl_ms / 2000:
            raise ValueError(f"policy interval_s={interval_s} must be > 0 and below half the "
                             f"leader lease ({leader.ttl_ms / 1000:g} s)")
        self.service = service
        self.leader = leader
        self.inputs = inputs
        self.interval_s = interval_s
        self.cfg = cfg or PolicyConfig()
        self.state = PolicyState()
        self.clock_ms = clock_ms  # the policy's notion of now (schedule, holds); tests inject it
        self.last_tick_ms: int | None = None
        self.commands: dict[str, Command] = {}  # latest policy command per node (for the API)

    def tick(self) -> list[Command]:
        """One round: lease, policy decisions, lease renewals; returns the commands issued."""
        if not self.leader.tick() or self.leader.epoch is None:
            return []
        epoch, out = self.leader.epoch, []
        if self.inputs is not None:
            inp = self.inputs(self.clock_ms(), epoch)
            if inp is not None:
                decisions, self.state = decide(inp, self.state, self.cfg)
                self.last_tick_ms = inp.now_ms
                for d in decisions.values():
                    if d.send and self.leader.is_leader:
                        sent = self._send(inp.sites[d.node], d.throttle, epoch)
                        # replaced, not mutated: the API thread reads it without a lock
                        self.commands = {**self.commands, **{c.node: c for c in sent}}
                        out.extend(sent)
        if self.leader.is_leader:
            out.extend(self.service.renew_leases(epoch))
        return out

    def _send(self, site: SiteInfo, throttle: Any, epoch: int) -> list[Command]:
        kind, params = (("clear_throttle", {}) if throttle is None
                        else ("set_throttle", throttle.params(self.cfg.lease_s)))
        try:
            return [self.service.issue(site.node, site.site, kind, params, origin="policy",
                                       epoch=epoch)]
        except Exception:
            log.exception("policy command for %s failed", site.node)
            return []

    async def run(self) -> None:
        """Tick every interval_s until cancelled (errors are logged, the loop goes on)."""
        while True:
            try:
                await asyncio.to_thread(self.tick)
            except Exception:
                log.exception("policy loop tick failed")
            await asyncio.sleep(self.interval_s)

    async def lifetime(self, _app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup_ctx: run for the app's lifetime, release the lease at shutdown."""
        task = asyncio.create_task(self.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(self.leader.release)
