"""A fake tc for simulated nodes: the shaping actuator's surface over an in-memory kernel.

Simulated nodes run the real ShapingController (validation, plans, diff, lease, verify,
rollback) against this kernel, which applies the controller's abstract operations to two
DevStates the way tc applies them to the LAN device and the IFB. Nothing here plans or
diffs, so the simulator cannot drift from the real controller. The NodeModel caps its
simulated traffic at the node totals found here (``limits_bps``).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence

from agent.policy import shaping as sp


def apply_op(st: sp.DevState, op: sp.Op) -> None:
    """Change one device's state as tc would for one abstract operation."""
    name, args = op[0], op[1:]
    if name == "del_root":  # the root qdisc takes its classes, leaves and filters with it
        st.root_kind, st.root_ours = None, False
        st.classes, st.leaves, st.filters, st.stray_filters = {}, {}, {}, []
    elif name == "add_root":
        st.root_kind, st.root_ours = "htb", True
    elif name in ("add_class", "change_class"):
        minor, parent, rate, ceil = (int(a) for a in args)
        st.classes[minor] = (parent, sp.HtbClass(rate, ceil))
    elif name == "del_class":
        st.classes.pop(int(args[0]), None)
        st.leaves.pop(int(args[0]), None)
    elif name == "leaf":
        st.leaves[int(args[0])] = args[1]
    elif name == "add_filter":
        st.filters[args[1]] = (int(args[0]), int(args[0]))
    elif name == "del_filter":
        node = int(args[0])
        st.filters = {ip: f for ip, f in st.filters.items() if f[0] != node}
        st.stray_filters = [n for n in st.stray_filters if n != node]
    elif name == "add_ingress":
        st.ingress = True
    elif name == "add_redirect":
        st.redirect = True
    elif name == "del_ingress":  # the redirect filter hangs off the ingress qdisc
        st.ingress, st.redirect = False, False
    else:
        raise ValueError(f"unknown op {name}")


class FakeTc:
    """In-memory LAN + IFB shaping state with the read/ensure_ifb/execute surface of TcShaper."""

    def __init__(self, leaf: str = "fq_codel") -> None:
        self._state = sp.ShapingKernelState()
        self._leaf = leaf
        self._lock = threading.Lock()
        self.commands_run = 0  # operations applied (as TcShaper counts tc writes)

    def read(self) -> sp.ShapingKernelState:
        """A copy of both devices' state."""
        with self._lock:
            return copy.deepcopy(self._state)

    def leaf_kind(self) -> str:
        """The leaf qdisc this fake kernel 'has'."""
        return self._leaf

    def ensure_ifb(self) -> None:
        """The fake IFB always exists."""

    def execute(self, ops: Sequence[sp.DevOp]) -> None:
        """Apply the operations in order."""
        with self._lock:
            for dev, op in ops:
                apply_op(self._state.lan if dev == "lan" else self._state.ifb, op)
            self.commands_run += len(ops)

    def limits_bps(self) -> tuple[float | None, float | None]:
        """(down, up) node totals in bit/s from the class 1:1 of each device, None if unshaped."""
        with self._lock:
            return _total_bps(self._state.lan), _total_bps(self._state.ifb)


def _total_bps(st: sp.DevState) -> float | None:
    total = st.classes.get(sp.TOTAL) if st.root_ours else None
    return total[1].rate * 1000.0 if total is not None else None
