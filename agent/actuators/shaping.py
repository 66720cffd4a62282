"""tc actuator: read HTB/IFB shaping state back, render abstract ops to tc syntax, run them.

The diff is the controller's (agent.controllers.shaping): this module only reads the kernel,
renders the operations it is handed and executes them in one `tc -batch`.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from typing import Any

from agent import sysexec
from agent.policy.shaping import (
    DEFAULT,
    Device,
    DevOp,
    DevState,
    HtbClass,
    Op,
    ShapingKernelState,
)

log = logging.getLogger(__name__)

PRIO_CLIENT, PRIO_REDIRECT = 10, 1
LEAF_CHOICES = ("fq_codel", "sfq", "pfifo")
_UNITS = {"bit": 1, "kbit": 1_000, "mbit": 1_000_000, "gbit": 10**9, "tbit": 10**12}


class ShapingError(RuntimeError):
    """tc failed or the kernel state did not verify; ``code`` is the ack reason code."""

    def __init__(self, detail: str, code: str = "apply_failed") -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def parse_rate_kbit(text: str) -> int:
    """'1500Kbit' / '2Mbit' / '800bit' -> kbit/s (SI units, as tc prints them)."""
    low = text.lower()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if low.endswith(unit):
            return round(float(low[: -len(unit)]) * _UNITS[unit] / 1000)
    raise ValueError(f"not a tc rate: {text!r}")


def _minor(handle: str) -> int | None:
    major, _, minor = handle.partition(":")
    if major != "1" or not minor:
        return None
    return int(minor, 16)


def parse_classes(text: str) -> dict[int, tuple[int, HtbClass]]:
    """`tc class show` text (htb has no JSON output in iproute2 6.1) -> minor -> (parent, class)."""
    out: dict[int, tuple[int, HtbClass]] = {}
    for line in text.splitlines():
        tok = line.split()
        if len(tok) < 3 or tok[0] != "class" or tok[1] != "htb":
            continue
        minor = _minor(tok[2])
        if minor is None or "rate" not in tok or "ceil" not in tok:
            continue
        parent = _minor(tok[tok.index("parent") + 1]) if "parent" in tok else 0
        rate = parse_rate_kbit(tok[tok.index("rate") + 1])
        ceil = parse_rate_kbit(tok[tok.index("ceil") + 1])
        out[minor] = (parent or 0, HtbClass(rate, ceil))
    return out


def parse_state(qdiscs: list[dict[str, Any]], classes: str, filters: list[dict[str, Any]],
                ingress_filters: list[dict[str, Any]], match_off: int, ifb: str) -> DevState:
    """Turn `tc -j` qdisc/filter output and class text into a DevState."""
    st = DevState(classes=parse_classes(classes))
    for q in qdiscs:
        kind, handle, parent = q.get("kind", ""), q.get("handle", ""), q.get("parent", "")
        if q.get("root"):
            if handle != "0:":
                st.root_kind = kind
            opts = q.get("options") or {}
            st.root_ours = kind == "htb" and handle == "1:" and int(str(opts.get("default", "0")), 16) == DEFAULT
        elif kind == "ingress":
            st.ingress = True
        elif (minor := _minor(parent)) is not None:
            limit = (q.get("options") or {}).get("limit")
            st.leaves[minor] = f"pfifo:{limit}" if kind == "pfifo" else kind
    if not st.root_ours:
        st.classes, st.leaves = {}, {}
    for f in filters:
        opts = f.get("options") or {}
        fh = str(opts.get("fh", ""))
        if f.get("kind") != "u32" or f.get("pref") != PRIO_CLIENT or not fh.startswith("800::"):
            continue
        node = int(fh[5:], 16)
        match, flow = opts.get("match"), _minor(str(opts.get("flowid", "")))
        if isinstance(match, dict) and match.get("off") == match_off and flow is not None \
                and match.get("mask") == "ffffffff":
            st.filters[str(ipaddress.IPv4Address(int(str(match["value"]), 16)))] = (node, flow)
        elif node:
            st.stray_filters.append(node)
    for f in ingress_filters:
        for act in (f.get("options") or {}).get("actions", []):
            if act.get("kind") == "mirred" and act.get("to_dev") == ifb:
                st.redirect = True
    return st


def _leaf_args(spec: str) -> list[str]:
    kind, _, limit = spec.partition(":")
    return [kind, "limit", limit] if limit else [kind]


def render(dev: str, ops: Sequence[Op], direction: str, ifb: str) -> list[list[str]]:
    """Abstract ops -> tc argument lists for one device (direction 'dst' on LAN, 'src' on IFB)."""
    out: list[list[str]] = []
    for op in ops:
        name, args = op[0], op[1:]
        if name == "del_root":
            out.append(["qdisc", "del", "dev", dev, "root"])
        elif name == "add_root":
            out.append(["qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb",
                        "default", f"{DEFAULT:x}"])
        elif name in ("add_class", "change_class"):
            minor, parent, rate, ceil = (int(a) for a in args)
            out.append(["class", name.split("_")[0], "dev", dev, "parent",
                        f"1:{parent:x}" if parent else "1:", "classid", f"1:{minor:x}", "htb",
                        "rate", f"{rate}kbit", "ceil", f"{ceil}kbit"])
        elif name == "del_class":
            out.append(["class", "del", "dev", dev, "classid", f"1:{int(args[0]):x}"])
        elif name == "leaf":
            minor = int(args[0])
            out.append(["qdisc", "replace", "dev", dev, "parent", f"1:{minor:x}", "handle",
                        f"{minor:x}:", *_leaf_args(args[1])])
        elif name == "del_filter":
            out.append(["filter", "del", "dev", dev, "parent", "1:", "protocol", "ip", "prio",
                        str(PRIO_CLIENT), "handle", f"800::{int(args[0]):x}", "u32"])
        elif name == "add_filter":
            minor = int(args[0])
            out.append(["filter", "add", "dev", dev, "parent", "1:", "protocol", "ip", "prio",
                        str(PRIO_CLIENT), "handle", f"800::{minor:x}", "u32", "match", "ip",
                        direction, f"{args[1]}/32", "flowid", f"1:{minor:x}"])
        elif name == "add_ingress":
            out.append(["qdisc", "add", "dev", dev, "handle", "ffff:", "ingress"])
        elif name == "add_redirect":
            out.append(["filter", "replace", "dev", dev, "parent", "ffff:", "protocol", "all",
                        "prio", str(PRIO_REDIRECT), "handle", "800::1", "u32", "match", "u32",
                        "0", "0", "action", "mirred", "egress", "redirect", "dev", ifb])
        elif name == "del_ingress":
            out.append(["qdisc", "del", "dev", dev, "ingress"])
        else:
            raise ValueError(f"unknown op {name}")
    return out


class TcShaper:
    """Kernel side of shaping on one node (optionally inside a network namespace)."""

    def __init__(self, lan: str, ifb: str, netns: str | None = None, leaf: str = "auto",
                 timeout: float = 10.0) -> None:
        self.lan, self.ifb, self.netns, self.timeout = lan, ifb, netns, timeout
        self._leaf = None if leaf == "auto" else leaf
        self.commands_run = 0  # tc write operations issued (tests count kernel changes)
        self._ifb_exists: bool | None = None  # unknown until a read-back fails or we create it
        self._ifb_up = False

    def _tool(self, tool: str, *args: str) -> sysexec.ExecResult:
        ns = ["-n", self.netns] if self.netns else []
        return sysexec.run([tool, *ns, *args], self.timeout)

    def _dev_exists(self, dev: str) -> bool:
        return self._tool("ip", "link", "show", "dev", dev).ok

    def leaf_kind(self) -> str:
        """Best leaf qdisc this kernel has: fq_codel, else sfq, else pfifo (detected once)."""
        if self._leaf is None:
            probe = f"kts{os.getpid() % 100000}q"
            self._leaf = "pfifo"
            if self._tool("ip", "link", "add", probe, "type", "ifb").ok:
                try:
                    for kind in LEAF_CHOICES[:-1]:
                        if self._tool("tc", "qdisc", "add", "dev", probe, "root", kind).ok:
                            self._leaf = kind
                            break
                finally:
                    self._tool("ip", "link", "del", probe)
            log.info("shaping leaf qdisc: %s", self._leaf)
        return self._leaf

    def read(self) -> ShapingKernelState:
        """Read both devices back from the kernel with one `tc -j -batch` (IFB if it exists)."""
        for _ in range(2):
            devs = [self.lan, self.ifb] if self._ifb_exists is not False else [self.lan]
            lines = ["qdisc show"]
            for dev in devs:  # htb classes print text even with -j: a JSON line separates them
                lines += [f"class show dev {dev}", "qdisc show dev lo"]
            lines += [f"filter show dev {dev} parent 1:" for dev in devs]
            lines.append(f"filter show dev {self.lan} parent ffff:")
            res = self._batch(lines, json_out=True)
            if res.ok:
                try:
                    return self._parse_read(res.stdout, devs)
                except (ValueError, KeyError, TypeError) as exc:
                    raise ShapingError(f"unreadable tc output: {exc}", "tc_failed") from exc
            exists = self._dev_exists(self.ifb)
            if exists == self._ifb_exists:
                break
            self._ifb_exists = exists
        raise ShapingError(f"tc read-back failed: {res.stderr.strip()[:300]}", "tc_failed")

    def _parse_read(self, out: str, devs: list[str]) -> ShapingKernelState:
        arrays: list[list[dict[str, Any]]] = []
        texts: dict[int, list[str]] = {}
        for line in out.splitlines():
            if line.startswith("["):
                arrays.append(json.loads(line))
            elif line.startswith("class "):
                texts.setdefault(len(arrays), []).append(line)
        if len(arrays) != 2 * len(devs) + 2:
            raise ShapingError(f"unexpected tc read-back ({len(arrays)} sections)", "tc_failed")
        qdiscs, filters, ingress = arrays[0], arrays[1 + len(devs):], arrays[-1]
        states = []
        for i, dev in enumerate(devs):
            qd = [q for q in qdiscs if q.get("dev") == dev]
            states.append(parse_state(qd, "\n".join(texts.get(1 + i, [])), filters[i],
                                      ingress if dev == self.lan else [], 16 if i == 0 else 12,
                                      self.ifb))
        self._ifb_up = any(q.get("dev") == self.ifb for q in qdiscs)
        return ShapingKernelState(states[0], states[1] if len(states) > 1 else DevState())

    def ensure_ifb(self) -> None:
        """Create and bring up the IFB device if missing or down (no-op when already up)."""
        if self._ifb_up:
            return
        if not self._dev_exists(self.ifb):
            res = self._tool("ip", "link", "add", self.ifb, "type", "ifb")
            if not res.ok:
                raise ShapingError(f"cannot create {self.ifb}: {res.stderr.strip()}", "no_ifb")
        self._tool("ip", "link", "set", self.ifb, "up")
        self._ifb_exists, self._ifb_up = True, True

    def _batch(self, lines: list[str], json_out: bool = False) -> sysexec.ExecResult:
        tmpdir = "/dev/shm" if os.path.isdir("/dev/shm") else None
        with tempfile.NamedTemporaryFile("w", prefix="kotanet-tc-", suffix=".batch",
                                         dir=tmpdir) as fh:
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            return self._tool("tc", *(["-j"] if json_out else []), "-batch", fh.name)

    def execute(self, ops: Sequence[DevOp]) -> None:
        """Render ops (in order) to tc and run them as one batch; ShapingError on failure."""
        if not ops:
            return
        cmds = [cmd for dev, op in ops for cmd in self._render(dev, op)]
        self.commands_run += len(cmds)
        res = self._batch([" ".join(c) for c in cmds])
        if not res.ok:
            self._ifb_up = False  # re-check the device on the next apply
            raise ShapingError(f"tc batch failed: {res.stderr.strip()[:300]}", "tc_failed")

    def _render(self, dev: Device, op: Op) -> list[list[str]]:
        if dev == "lan":
            return render(self.lan, [op], "dst", self.ifb)
        return render(self.ifb, [op], "src", self.ifb)
