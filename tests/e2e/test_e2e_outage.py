"""Issue 3: a day-long broker outage (compressed) with an agent crash; and outbox overflow."""

from __future__ import annotations

import time
from typing import Any

import pytest
from e2e_helpers import (
    BOTH_BACKENDS,
    StackFactory,
    audited,
    central_rows,
    install_audit,
    stored,
    vmrss_kb,
)

from agent.sim.stack import Proc, Stack, wait_until

DAY_SAMPLES = 8_640  # one day at the default 10 s interval
INTERVAL_S = 0.004
NODE = "taman-kota-sampit-01"
FAST = ["--set", "mqtt.reconnect_min_s=0.2", "--set", "mqtt.reconnect_max_s=1",
        "--set", "outbox.retry_min_s=1", "--set", "outbox.retry_max_s=4"]
RSS_GROWTH_MAX_KB = 8 * 1024


def _samples_after(st: Stack, floor: int) -> int:
    return sum(1 for s in audited(st, NODE, "sample") if s > floor)


def _rss_during(proc: Proc, until: float, st: Stack, floor: int, target: int) -> list[int]:
    """VmRSS every 0.25 s while the agent samples, until ``target`` samples or ``until``."""
    rss: list[int] = []
    while time.monotonic() < until and _samples_after(st, floor) < target:
        rss.append(vmrss_kb(proc.pid))
        time.sleep(0.25)
    return rss


def _settled_max_stored(st: Stack) -> int:
    """The highest sample seq central has stored for NODE, once it stops changing (bounded)."""
    last = -1
    for _ in range(40):  # at most ~10 s
        now = max(stored(st, NODE).get(NODE, ([0], []))[0] or [0])
        if now == last:
            return now
        last = now
        time.sleep(0.25)
    return last


def _flat(rss: list[int]) -> tuple[int, int]:
    """(RSS after warm-up, highest RSS later) in kB."""
    warm = rss[max(1, len(rss) // 5)]
    return warm, max(rss[len(rss) // 5:])


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.timeout(240)
# SQLite only in `make test`: ~50 s a run; PostgreSQL's replay path is covered by the chaos
# test and by the overflow test below (add @BOTH_BACKENDS to run this one on it: it passes).
def test_day_long_outage_with_agent_crash_arrives_complete_historical_in_order(
        make_stack: StackFactory) -> None:
    st: Stack = make_stack(20, interval_s=INTERVAL_S, keepalive_s=4)
    state = st.dir / "nodes"
    install_audit(state, [NODE])
    st.start_central("c1", extra_toml="reconnect_min_s = 0.5\nreconnect_max_s = 1\n")
    sim = st.start_sim("sim", only=[NODE], extra=FAST)
    wait_until(lambda: NODE in st.online(), 15, "node online")
    wait_until(lambda: len(stored(st, NODE).get(NODE, ([], []))[0]) > 50, 15, "live samples")

    t0 = time.monotonic()
    st.broker.stop()
    # The outage is what central did not get before the broker went: the agent's records
    # after it saw the broker go (batches handed to paho in the ms before come back as paho's
    # own live copies) and after the last one central stored live (the audit file is written
    # behind the outbox, so it may lag what was already delivered).
    wait_until(lambda: "disconnected from" in sim.log_path.read_text(errors="replace"), 30,
               "the agent to notice the broker is gone")
    last_live = _settled_max_stored(st)
    floor = max(max(audited(st, NODE)), last_live)  # everything above: written in the outage
    deadline = t0 + 150
    rss1 = _rss_during(sim, deadline, st, floor, DAY_SAMPLES // 2)
    sim.kill()  # SIGKILL in the middle of the outage
    sim = st.start_sim("sim-2", only=[NODE], extra=FAST)
    rss2 = _rss_during(sim, deadline, st, floor, DAY_SAMPLES)
    outage = sorted(s for s in audited(st, NODE, "sample") if s > floor)
    print(f"outage: {len(outage)} samples in {time.monotonic() - t0:.0f}s; "
          f"RSS kB 1st agent {_flat(rss1)}, 2nd agent {_flat(rss2)} (warm, max)")
    assert len(outage) >= DAY_SAMPLES, "the agent did not produce a day of samples in time"

    st.broker.start()
    broker_back_ms = int(time.time() * 1000)
    t1 = time.monotonic()
    want = audited(st, NODE)
    wait_until(lambda: want <= set(sum(stored(st, NODE).get(NODE, ([], [])), [])), 90,
               "every sample of the outage stored", step_s=0.5)
    print(f"backlog of {len(outage)} delivered {time.monotonic() - t1:.1f}s after broker start")

    rows = [(r["seq"], r["ts_ms"], r["received_ms"], int(r["historical"])) for r in central_rows(
        st, "SELECT seq, ts_ms, received_ms, historical FROM samples WHERE node = ? AND seq > ? "
        "ORDER BY seq", (NODE, floor))]
    got = [r for r in rows if r[0] <= outage[-1]]
    assert [r[0] for r in got] == outage  # all of them, each once
    live = [(r[0], r[2]) for r in got if r[3] != 1]
    assert not live, (f"outage samples must be marked historical: {len(live)} live, first "
                      f"(seq, received_ms) {live[:3]}, last {live[-3:]}; floor {floor}, outage "
                      f"{outage[0]}..{outage[-1]}; broker back at {broker_back_ms}")
    assert all(a[1] <= b[1] for a, b in zip(got, got[1:], strict=False)), "ts out of order"
    late = [(a[0], b[0]) for a, b in zip(got, got[1:], strict=False) if b[2] < a[2]]
    assert not late, f"arrived out of order (seq pairs): {late[:5]}"
    for rss in (rss1, rss2):
        warm, peak = _flat(rss)
        assert peak - warm <= RSS_GROWTH_MAX_KB, f"RSS grew {warm} -> {peak} kB during the outage"


@pytest.mark.broker
@pytest.mark.slow
@pytest.mark.timeout(120)
@BOTH_BACKENDS
def test_outbox_overflow_is_reported_as_agent_side_drop_not_loss(make_stack: StackFactory) -> None:
    st = make_stack(20, interval_s=0.02, keepalive_s=4)
    state = st.dir / "nodes"
    install_audit(state, [NODE])
    central = st.start_central("c1", top_toml="gap_grace_s = 0")
    st.start_sim("sim", only=[NODE], extra=[*FAST, "--outbox-max-records", "100"])
    wait_until(lambda: len(stored(st, NODE).get(NODE, ([], []))[0]) > 20, 15, "live samples")

    assert central.stop() == 0  # central offline (retained state): the agent holds its data
    floor = max(audited(st, NODE))
    wait_until(lambda: _samples_after(st, floor) > 400, 30, "400 samples while paused")
    st.start_central("c1", top_toml="gap_grace_s = 0")

    def settled() -> dict[str, Any] | None:
        d = st.api(f"/api/v1/nodes/{NODE}")
        return d if d["drops"]["dropped"] > 0 and d["gaps"]["missing"] == 0 else None

    detail = wait_until(settled, 30, "the drop reported and no gap left", step_s=0.5)
    drops = detail["drops"]
    print(f"overflow: agent dropped {drops['dropped']} records in {drops['count']} range(s); "
          f"gaps {detail['gaps']}")
    assert {r["reason"] for r in drops["ranges"]} == {"overflow"}
    dropped = {s for r in drops["ranges"] for s in range(r["from_seq"], r["to_seq"] + 1)}
    have = set(sum(stored(st, NODE)[NODE], []))
    generated = audited(st, NODE)
    # everything the agent generated is either stored or reported dropped by the agent itself
    lost = {s for s in generated if s not in have and s not in dropped and s <= max(have)}
    assert not lost, f"lost in transit: {sorted(lost)[:10]}"
    # a real drop: records central never got (a drop range may also cover records central
    # committed just before it stopped, whose receipt the agent never saw)
    assert len(dropped - have) > 100
