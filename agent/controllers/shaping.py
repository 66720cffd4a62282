"""ShapingController: set_throttle/clear_throttle -> validated, idempotent, verified tc state.

The controller diffs: it reads the kernel through the actuator, plans and diffs with the pure
policy (agent.policy.shaping) and hands the actuator abstract operations per device, which
it renders to tc and executes; a second read-back verifies them.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, cast

from agent.actuators.shaping import ShapingError, TcShaper
from agent.clock import wall_ms
from agent.config import ShapingSection
from agent.policy import shaping as sp
from protocol.messages import Event, Shaping
from protocol.params import ParamsError, validate_params

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


class ShapingActuator(Protocol):
    """What the controller needs of the kernel side (TcShaper, or the simulator's fake tc)."""

    def read(self) -> sp.ShapingKernelState:
        """Both devices as the kernel has them now (ShapingError if unreadable)."""
        ...

    def leaf_kind(self) -> str:
        """The best leaf qdisc this kernel has (fq_codel, sfq or pfifo)."""
        ...

    def ensure_ifb(self) -> None:
        """Create and bring up the IFB device if needed (ShapingError code no_ifb)."""
        ...

    def execute(self, ops: Sequence[sp.DevOp]) -> None:
        """Apply the operations in order (ShapingError on failure)."""
        ...


def _locked(fn: F) -> F:
    """Run a ShapingController method under its lock (commands vs the main loop)."""
    @functools.wraps(fn)
    def wrapper(self: ShapingController, *args: Any, **kw: Any) -> Any:
        with self._lock:
            return fn(self, *args, **kw)
    return cast(F, wrapper)


@dataclass(frozen=True)
class Outcome:
    """Result of one throttle command, ready for a CommandAck."""

    stage: Literal["applied", "rejected"]
    code: str
    detail: str
    applied_version: int


class ShapingController:
    """Owns the node's throttle: desired state from central, lease, safe default, client list."""

    def __init__(self, cfg: ShapingSection, shaper: ShapingActuator | None = None) -> None:
        self.cfg = cfg
        self.shaper: ShapingActuator = shaper or TcShaper(cfg.lan_iface, cfg.ifb_iface,
                                                          leaf=cfg.leaf_qdisc)
        self.version = 0  # highest applied throttle version
        self.throttle: sp.Desired | None = None  # what central asked for (None = nothing)
        self.effective: sp.Desired | None = None  # what the kernel enforces now
        self.lease_deadline: float | None = None  # monotonic seconds
        self.clients: list[str] = []
        self._lock = threading.RLock()  # commands (MQTT thread) vs tick/set_clients (main loop)

    def safe_default(self) -> sp.Desired | None:
        """The node's configured fallback limits (None = kernel default, no shaping)."""
        down = self.cfg.default_down_kbps or None
        up = self.cfg.default_up_kbps or None
        if down is None and up is None:
            return None
        return sp.Desired(self.version, down, up)

    @_locked
    def start(self) -> None:
        """Enforce the safe default at agent start (and remove stale shaping of ours)."""
        self._enforce(self.safe_default())

    @_locked
    def handle_command(self, kind: str, params: Mapping[str, Any], version: int,
                       now: float) -> Outcome:
        """Apply a set_throttle/clear_throttle whose version/epoch/expiry were already checked."""
        try:
            if kind == "set_throttle":
                self.apply(sp.validate_set_throttle(params, version), now)
            elif kind == "clear_throttle":
                validate_params(kind, params)  # takes none: any key is bad_params
                self.clear(version)
            else:
                return Outcome("rejected", "bad_kind", f"not a throttle command: {kind}",
                               self.version)
        except ParamsError as exc:  # the protocol's one contract (protocol/params.py)
            log.warning("throttle v%d rejected: %s", version, exc)
            return Outcome("rejected", exc.code, exc.detail, self.version)
        except ShapingError as exc:
            log.error("throttle v%d failed and was rolled back: %s", version, exc.detail)
            return Outcome("rejected", exc.code, exc.detail, self.version)
        return Outcome("applied", "ok", "", self.version)

    @_locked
    def apply(self, desired: sp.Desired, now: float) -> Shaping | None:
        """Enforce ``desired`` (a renewal with equal limits touches nothing); start its lease."""
        self._enforce(desired)
        self.throttle, self.version = desired, max(self.version, desired.version)
        self.lease_deadline = now + desired.lease_s if desired.lease_s else None
        log.info("throttle v%d applied: down=%s up=%s per-client=%s/%s lease=%s",
                 desired.version, desired.down_kbps, desired.up_kbps,
                 desired.per_client_down_kbps, desired.per_client_up_kbps, desired.lease_s)
        return self.current()

    @_locked
    def clear(self, version: int | None = None) -> Shaping | None:
        """Drop central's throttle: back to the safe default (or no shaping at all)."""
        self._enforce(self.safe_default())
        self.throttle, self.lease_deadline = None, None
        if version is not None:
            self.version = max(self.version, version)
        log.info("throttle cleared (v%d), safe default %s", self.version, self.effective)
        return self.current()

    @_locked
    def tick(self, now: float) -> bool:
        """Call periodically with monotonic time; True when a lease lapsed and was reverted."""
        if self.lease_deadline is None or now < self.lease_deadline:
            return False
        log.warning("throttle v%d lease lapsed without renewal: back to safe default",
                    self.version)
        try:
            self.clear()
        except ShapingError as exc:
            log.error("reverting lapsed throttle failed: %s", exc.detail)
            return False
        return True

    @_locked
    def set_clients(self, ips: Iterable[str]) -> bool:
        """Keep per-client classes in step with the user list; True when it changed."""
        new = sp.client_ips(ips)
        if new == self.clients:
            return False
        old, self.clients = self.clients, new
        try:
            self._enforce(self.effective)
        except ShapingError:
            self.clients = old
            raise
        return True

    @_locked
    def current(self) -> Shaping | None:
        """What is enforced now, as the protocol's sample.shaping (None = nothing ever)."""
        eff = self.effective
        if eff is None and self.version == 0:
            return None
        return Shaping(version=self.version,
                       down_kbps=eff.down_kbps if eff else None,
                       up_kbps=eff.up_kbps if eff else None,
                       per_client_down_kbps=eff.per_client_down_kbps if eff else None,
                       per_client_up_kbps=eff.per_client_up_kbps if eff else None)

    def _plans(self, target: sp.Desired | None, state: sp.ShapingKernelState
               ) -> tuple[sp.DirPlan | None, sp.DirPlan | None]:
        if target is None:
            return None, None
        down = sp.plan_direction(target.down_kbps, target.per_client_down_kbps, self.clients,
                                 state.lan.client_minors())
        up = sp.plan_direction(target.up_kbps, target.per_client_up_kbps, self.clients,
                               state.ifb.client_minors())
        return down, up

    @staticmethod
    def _ops(state: sp.ShapingKernelState, down: sp.DirPlan | None, up: sp.DirPlan | None,
             leaf: str) -> list[sp.DevOp]:
        """Operations turning ``state`` into the two plans (empty = nothing to do).

        With upload shaping the IFB tree is built before the redirect that feeds it; without
        it the redirect goes first, so no packet is sent to a tree being torn down.
        """
        lan: list[sp.DevOp] = [("lan", op) for op in sp.diff(state.lan, down, leaf)]
        ifb: list[sp.DevOp] = [("ifb", op) for op in sp.diff(state.ifb, up, leaf)]
        redir: list[sp.DevOp] = [("lan", op) for op in sp.redirect_ops(state.lan, up is not None)]
        return ifb + redir + lan if up is not None else redir + ifb + lan

    def _enforce(self, target: sp.Desired | None) -> int:
        """Make the kernel match ``target``; verify; roll back to the previous state on failure."""
        try:
            n = self._converge(target)
        except ShapingError:
            self._rollback()
            raise
        self.effective = target
        return n

    def _converge(self, target: sp.Desired | None) -> int:
        state = self.shaper.read()
        down, up = self._plans(target, state)
        if up is not None:
            self.shaper.ensure_ifb()
        leaf = self.shaper.leaf_kind() if down or up else "pfifo"
        ops = self._ops(state, down, up, leaf)
        self.shaper.execute(ops)
        if ops:
            left = self._ops(self.shaper.read(), down, up, leaf)
            if left:
                dev, op = left[0]
                raise ShapingError(f"verify failed, still differs on {dev}: {' '.join(op)}",
                                   "verify_failed")
        return len(ops)

    def _rollback(self) -> None:
        for fallback in (self.effective, None):
            try:
                self._converge(fallback)
                self.effective = fallback
                log.warning("shaping rolled back to %s", fallback)
                return
            except ShapingError as exc:
                log.error("rollback to %s failed: %s", fallback, exc.detail)
        self.effective = None


def start_shaping(ctl: ShapingController | None) -> None:
    """Enforce the safe default at agent start (errors are logged, the agent runs on)."""
    if ctl is None:
        return
    try:
        ctl.start()
    except Exception:
        log.exception("could not enforce the safe shaping default at start")


def lease_tick(ctl: ShapingController | None, now: float) -> list[Event]:
    """Revert a lapsed throttle lease; returns the event reporting it (or nothing)."""
    if ctl is None or not ctl.tick(now):
        return []
    cur = ctl.current()
    return [Event.model_validate({
        "ts_ms": wall_ms(), "kind": "throttle_lease_expired", "severity": "warning",
        "message": "throttle lease lapsed without renewal: back to the safe default",
        "data": {"version": ctl.version, "shaping": cur.model_dump() if cur else None}})]


def current_shaping(ctl: ShapingController | None) -> Shaping | None:
    """What the node enforces now, for sample.shaping (None without a controller)."""
    return ctl.current() if ctl is not None else None
