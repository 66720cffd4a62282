"""Throttle: command latency central -> MQTT -> agent -> tc -> ack, accuracy and apply time.

Rate: bulk TCP transfers internet -> client (download) and client -> internet (upload) through a
node namespace shaped by the controller; measured goodput / commanded limit, goal 0.90-1.05.
(TCP over a 1500-byte MTU can carry at most 1448/1514 = 0.956 of an L2 shaper's rate.)

Apply latency: 200 set_throttle applies alternating between two throttles (total + per-client
classes for 2 clients, both directions), timed from the call to "applied" (read back, diff, tc
batch, verify). Anchor, measured side by side: the same class changes sent as one bare
`tc -batch` with no read-back and no verification (the least a shaper can do).

Headline, the full command path (bench/_throttle_mqtt.py): 200 set_throttle commands
alternating between the same two throttles, each timed from central's CommandService.issue
(SQLite record + QoS 1 publish) through a private mosquitto to a real Agent (command gate,
controller, real tc in the namespace) and back until central's collector has committed the
'applied' ack; p50/p99, goal p99 <= 250 ms. Anchor, interleaved with it in the same run: the
bare MQTT round trip (a plain paho client publishes, an echo client answers, both QoS 1).

Usage: python bench/throttle.py [--quick]  (--quick: 60 commands/applies/echoes instead of 200,
2 transfers per direction at one rate). Last line: the headline JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.actuators.shaping import TcShaper  # noqa: E402
from agent.config import ShapingSection  # noqa: E402
from agent.controllers.shaping import ShapingController  # noqa: E402
from bench._throttle_mqtt import CommandPath, EchoAnchor  # noqa: E402
from tests.netns.nsutil import sh  # noqa: E402
from tests.netns.test_shaping_lab import CLIENT_IPS, ShapingLab, measure  # noqa: E402

GOAL_P99_MS = 250.0
GOAL_RATIO = (0.90, 1.05)
THROTTLES = ({"down_kbps": 4000, "up_kbps": 2000, "per_client_down_kbps": 1500,
              "per_client_up_kbps": 800},
             {"down_kbps": 6000, "up_kbps": 3000, "per_client_down_kbps": 2500,
              "per_client_up_kbps": 1200})


def emit(rec: dict[str, Any]) -> None:
    """One JSON line on stdout."""
    print(json.dumps(rec), flush=True)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def rates(lab: ShapingLab, ctl: ShapingController, down: int, up: int, runs: int
          ) -> dict[str, float]:
    """Median measured/commanded ratios for one node-wide throttle."""
    ctl.handle_command("set_throttle", {"down_kbps": down, "up_kbps": up}, ctl.version + 1, 0.0)
    out: dict[str, float] = {}
    for direction, limit in (("download", down), ("upload", up)):
        got = [measure(lab, ["c1"], download=direction == "download")["c1"] for _ in range(runs)]
        for i, g in enumerate(got):
            emit({"bench": "throttle", "run": i, "direction": direction, "commanded_kbps": limit,
                  "measured_kbps": round(g, 1), "ratio": round(g / limit, 4)})
        out[direction] = statistics.median(got) / limit
    return out


def apply_latency(ctl: ShapingController, n: int) -> list[float]:
    """Milliseconds per set_throttle apply, alternating between two throttles."""
    ms: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        res = ctl.handle_command("set_throttle", THROTTLES[i % 2], ctl.version + 1, 0.0)
        ms.append((time.perf_counter() - t0) * 1000)
        if res.stage != "applied":
            raise RuntimeError(f"apply {i} failed: {res.code} {res.detail}")
    return ms


def bare_tc_latency(lab: ShapingLab, n: int) -> list[float]:
    """Milliseconds per bare `tc -batch` of the same class changes (the anchor)."""
    batches = []
    for t in THROTTLES:
        lines = []
        for dev, total, pc in (("br0", t["down_kbps"], t["per_client_down_kbps"]),
                               ("ifb-kotanet", t["up_kbps"], t["per_client_up_kbps"])):
            share = total // 3
            lines.append(f"class change dev {dev} parent 1: classid 1:1 htb rate {total}kbit "
                         f"ceil {total}kbit")
            lines.append(f"class change dev {dev} parent 1:1 classid 1:2 htb rate {share}kbit "
                         f"ceil {total}kbit")
            for minor in ("100", "101"):
                lines.append(f"class change dev {dev} parent 1:1 classid 1:{minor} htb rate "
                             f"{min(share, pc)}kbit ceil {pc}kbit")
        fh = tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False, dir="/dev/shm")
        fh.write("\n".join(lines) + "\n")
        fh.close()
        batches.append(fh.name)
    ms: list[float] = []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            sh(["tc", "-n", lab.netns, "-batch", batches[i % 2]])
            ms.append((time.perf_counter() - t0) * 1000)
    finally:
        for b in batches:
            Path(b).unlink()
    return ms


def command_path(lab: ShapingLab, n: int) -> tuple[list[float], list[float], bool]:
    """Full-path ms per command and bare MQTT round-trip ms, interleaved; kernel check."""
    with tempfile.TemporaryDirectory(prefix="kotanet-bench-") as tmp:
        path = CommandPath(Path(tmp), lab.netns, CLIENT_IPS.values())
        anchor = None
        try:
            anchor = EchoAnchor(path.broker)
            for i in range(5):  # warm-up: connections, leaf detection, first build
                path.command_ms(THROTTLES[i % 2])
                anchor.round_trip_ms()
            ours, bare = [], []
            for i in range(n):
                ours.append(path.command_ms(THROTTLES[i % 2]))
                bare.append(anchor.round_trip_ms())
            kernel_ok = path.kernel_down_kbps() == THROTTLES[(n - 1) % 2]["down_kbps"]
        finally:
            if anchor is not None:
                anchor.close()
            path.close()
    return ours, bare, kernel_ok


def main() -> int:
    """Run the bench; per-run lines, summaries, headline last."""
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="60 commands instead of 200; 2 transfers per direction, one rate")
    args = ap.parse_args()
    runs, n = (2, 60) if args.quick else (5, 200)
    pairs = ((2000, 1000),) if args.quick else ((2000, 1000), (20000, 10000))
    t_start = time.monotonic()
    lab = ShapingLab()
    try:
        ctl = ShapingController(ShapingSection(enabled=True),
                                TcShaper("br0", "ifb-kotanet", netns=lab.netns))
        ratios: dict[str, list[float]] = {"download": [], "upload": []}
        for down, up in pairs:
            for direction, r in rates(lab, ctl, down, up, runs).items():
                ratios[direction].append(r)
        ctl.set_clients(CLIENT_IPS.values())
        apply_latency(ctl, 10)  # warm-up: leaf detection, first build
        ctl_ms = apply_latency(ctl, n)
        before = ctl.shaper.commands_run
        same = apply_latency_same(ctl, 50)
        idle_cmds = ctl.shaper.commands_run - before
        bare_tc = bare_tc_latency(lab, n)
        ctl.clear()
        ours, bare, kernel_ok = command_path(lab, n)
    finally:
        lab.close()
    rate_ok = all(GOAL_RATIO[0] <= r <= GOAL_RATIO[1] for rs in ratios.values() for r in rs)
    for direction, rs in ratios.items():
        emit({"bench": "throttle", "metric": f"{direction}_rate_ratio", "value": round(min(rs), 4),
              "per_rate": [round(r, 4) for r in rs], "commanded": [p for p in pairs],
              "unit": "measured/commanded (median of runs)", "goal": list(GOAL_RATIO),
              "ok": all(GOAL_RATIO[0] <= r <= GOAL_RATIO[1] for r in rs)})
    emit({"bench": "throttle", "metric": "apply_latency", "n": len(ctl_ms),
          "p50_ms": round(pct(ctl_ms, 50), 2), "p99_ms": round(pct(ctl_ms, 99), 2),
          "max_ms": round(max(ctl_ms), 2), "bare_tc_p50_ms": round(pct(bare_tc, 50), 2),
          "bare_tc_p99_ms": round(pct(bare_tc, 99), 2),
          "same_state_p50_ms": round(pct(same, 50), 2), "same_state_tc_writes": idle_cmds,
          "scope": "controller only (read back, diff, tc batch, verify)"})
    p50, p99, a50, a99 = pct(ours, 50), pct(ours, 99), pct(bare, 50), pct(bare, 99)
    emit({"bench": "throttle", "metric": "command_path_latency", "n": n, "quick": args.quick,
          "p50_ms": round(p50, 2), "p99_ms": round(p99, 2), "max_ms": round(max(ours), 2),
          "bare_mqtt_rtt_p50_ms": round(a50, 2), "bare_mqtt_rtt_p99_ms": round(a99, 2),
          "kernel_matches_last_command": kernel_ok,
          "scope": "CommandService.issue -> mosquitto -> agent -> tc -> ack 'applied' "
                   "committed by central's collector",
          "elapsed_s": round(time.monotonic() - t_start, 1)})
    ok = p99 <= GOAL_P99_MS and rate_ok and idle_cmds == 0 and kernel_ok
    emit({"bench": "throttle", "metric": "command_ack_latency_p99", "value": round(p99, 2),
          "unit": "ms", "goal": f"p99 <= {GOAL_P99_MS} ms over {n} commands; rate ratios "
                                f"{GOAL_RATIO[0]}-{GOAL_RATIO[1]}",
          "anchor": round(a99, 2), "ratio": round(p99 / a99, 4) if a99 else None, "ok": ok})
    return 0 if ok else 1


def apply_latency_same(ctl: ShapingController, n: int) -> list[float]:
    """Milliseconds per apply of an unchanged throttle (renewal: read back only)."""
    ms: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        ctl.handle_command("set_throttle", THROTTLES[1], ctl.version + 1, 0.0)
        ms.append((time.perf_counter() - t0) * 1000)
    return ms


if __name__ == "__main__":
    sys.exit(main())
