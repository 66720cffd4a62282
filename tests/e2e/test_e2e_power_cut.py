"""Issue 15: a power cut (SIGKILL of the agent) with write-behind, broker up and broker down.

Ground truth: kotanet-sim's audit file lists every seq the outbox handed out, before the
record could be published. Lost = handed out before the kill and never stored by central.
Central's gaps are read through its API (``gap_grace_s = 0``); the broker-down case (where
central must show the loss as a gap) runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import BOTH_BACKENDS, StackFactory, install_audit, stored

from agent.config import OutboxSection
from agent.sim.audit import read_audit
from agent.sim.stack import Stack, wait_until

NODE = "taman-kota-sampit-01"
INTERVAL_S = 0.25  # broker down: many records per flush
LIVE_INTERVAL_S = 1.0  # broker up: a receipt (ms) comes long before the next sample
FLUSH_EVERY = OutboxSection().flush_every  # the shipped default
FAST = ["--set", "mqtt.reconnect_min_s=0.2", "--set", "mqtt.reconnect_max_s=1",
        "--set", "outbox.retry_min_s=0.5", "--set", "outbox.retry_max_s=2"]


def _stored(st: Stack) -> set[int]:
    samples, events = stored(st, NODE).get(NODE, ([], []))
    return set(samples) | set(events)


def _gaps(st: Stack) -> list[tuple[int, int]]:
    data: dict[str, Any] = st.api("/api/v1/gaps")
    return [(g["from_seq"], g["to_seq"]) for g in data["gaps"] if g["node"] == NODE]


def _in_gap(seq: int, gaps: list[tuple[int, int]]) -> bool:
    return any(lo <= seq <= hi for lo, hi in gaps)


def _start(make_stack: StackFactory, interval_s: float) -> tuple[Stack, Path]:
    st: Stack = make_stack(2, interval_s=interval_s, keepalive_s=4)
    state = st.dir / "nodes"
    install_audit(state, [NODE])
    st.start_central("c1", top_toml="gap_grace_s = 0",
                     extra_toml="reconnect_min_s = 0.5\nreconnect_max_s = 1\n")
    return st, state


def _restart_and_check(st: Stack, state: Path, handed: set[int]) -> set[int]:
    """Start the node again; once newer records arrive, return the lost seqs after checking
    that each is inside one of central's gaps and no stored seq is."""
    st.start_sim("sim-2", only=[NODE], extra=FAST)
    top = max(handed)
    wait_until(lambda: any(s > top for s in _stored(st)), 30, "records after the restart")
    handed_before = {s for s in read_audit(state / NODE) if s <= top}
    lost = handed_before - _stored(st)
    gaps = wait_until(lambda: (g := _gaps(st)) and all(_in_gap(s, g) for s in lost) and g,
                      30, f"lost seqs {sorted(lost)} shown as gaps") if lost else _gaps(st)
    have = _stored(st)
    assert not [s for s in have if _in_gap(s, gaps)], "a stored (receipted) seq shown as gap"
    return lost


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_power_cut_with_broker_up_loses_at_most_the_record_being_measured(
        make_stack: StackFactory) -> None:
    st, state = _start(make_stack, LIVE_INTERVAL_S)
    sim = st.start_sim("sim", only=[NODE], extra=FAST)
    wait_until(lambda: len(_stored(st)) > 10, 30, "live records stored")
    time.sleep(LIVE_INTERVAL_S * random.random())  # anywhere in the sampling cycle
    sim.kill()  # SIGKILL: the RAM buffer is gone
    handed = read_audit(state / NODE)
    last_sample = max(read_audit(state / NODE, "sample"))
    lost = _restart_and_check(st, state, handed)
    print(f"broker up: {len(handed)} handed out, lost {sorted(lost)}, last sample {last_sample}")
    assert all(s >= last_sample for s in lost), f"lost more than the last sample: {lost}"


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.timeout(120)
@BOTH_BACKENDS
def test_power_cut_with_broker_down_loses_at_most_flush_every_shown_as_gap(
        make_stack: StackFactory) -> None:
    st, state = _start(make_stack, INTERVAL_S)
    sim = st.start_sim("sim", only=[NODE], extra=FAST)
    wait_until(lambda: len(_stored(st)) > 20, 30, "live records stored")
    st.broker.stop()
    floor = max(read_audit(state / NODE))
    wait_until(lambda: len([s for s in read_audit(state / NODE) if s > floor])
               > 3 * FLUSH_EVERY + 2, 30, "records during the outage")
    sim.kill()
    handed = read_audit(state / NODE)
    st.broker.start()
    lost = _restart_and_check(st, state, handed)
    print(f"broker down: {len(handed)} handed out, lost {sorted(lost)}")
    assert len(lost) <= FLUSH_EVERY, f"lost {len(lost)} > flush_every: {sorted(lost)}"
    outage = {s for s in handed if s > floor}
    assert len(outage - lost - _stored(st)) == 0
