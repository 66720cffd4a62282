"""Codec speed: ``protocol.codec.decode`` of tele batches, in samples/s, against ``json.loads``.

The collector's hot path is one ``decode`` per MQTT message. The payloads are what the agent
sends: tele batches of 50 samples (two uplinks each with every counter, users, system health,
a throttle in force on some, three probe reports), every fifth batch with a failover event.
Anchor, in the same run and on the same bytes: ``json.loads`` alone (parsing, no validation,
no models). Each run decodes every payload once and json.loads every payload once, back to back
(the order alternating), timed in CPU seconds of this process (the machine is shared); the
figures are medians over the runs, the ratio the median of the per-run ratios. The process
keeps Python's default garbage collector settings, as the collector does today; one extra
line shows the ratio with the collector tuned (gc.freeze, a higher gen0 threshold). A third figure: how fast hostile payloads are refused, and
whether each was (none may be accepted or raise anything but a CodecError); the headline is
``ok`` only if the speed goal is met AND every hostile payload was refused.

Usage: ``python bench/codec.py [--quick] [--runs N]``; one JSON line per figure, the headline
last. Goal: decode >= 0.8x the json.loads anchor (stretch: >= 1x).
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from protocol.codec import CodecError, decode  # noqa: E402
from protocol.topics import Topics  # noqa: E402

SAMPLES_PER_BATCH = 50
BATCHES = 40
GOAL_RATIO, STRETCH_RATIO = 0.8, 1.0
T0_MS = 1_764_331_200_000
TOPICS = Topics()
TOPIC = TOPICS.node("taman-kota", "tk-01", "tele")
GC_DEFAULT = gc.get_threshold()


def _uplink(name: str, seq: int, active: bool) -> dict[str, Any]:
    rx = 30e6 + (seq % 97) * 1e5 if active else 1200.0
    return {"name": name, "up": True, "active": active, "rtt_ms": 15.0 + (seq % 23) / 10,
            "loss_pct": (seq % 5) * 1.0, "jitter_ms": 1.5 + (seq % 7) / 10, "rx_bps": rx,
            "tx_bps": rx / 5, "rx_errors": seq % 3, "tx_errors": 0, "rx_dropped": seq % 2,
            "tx_dropped": 0}


def sample(seq: int) -> dict[str, Any]:
    """One sample as the reference agent builds it (every sensor present)."""
    users = 20 + seq % 30
    return {
        "seq": seq, "ts_ms": T0_MS + seq * 10_000,
        "uplinks": [_uplink("fiber", seq, True), _uplink("lte", seq, False)],
        "users": {"associated": users, "authenticated": users - 3, "leases": users + 4,
                  "total": users, "neighbours": users - 1, "daily_unique": 400 + seq % 50},
        "system": {"cpu_pct": 20.0 + seq % 40, "mem_pct": 41.2, "temp_c": 55.0 + (seq % 9) / 2,
                   "disk_pct": 12.0, "uptime_s": 86_400 + seq * 10, "undervoltage": False,
                   "throttled": False, "load1": 0.42, "undervoltage_since_boot": False,
                   "throttled_since_boot": False},
        "shaping": ({"version": 7, "down_kbps": 50_000, "up_kbps": 10_000,
                     "per_client_down_kbps": 2_000, "per_client_up_kbps": 512}
                    if seq % 3 else None),
        "probes": [
            {"name": "link:fiber", "status": "ok", "duration_ms": 212.0, "detail": "round ok"},
            {"name": "users", "status": "ok", "duration_ms": 41.7, "detail": "all sources ok"},
            {"name": "system", "status": "ok", "duration_ms": 3.2, "detail": ""},
        ],
    }


def batch(index: int) -> bytes:
    """One tele payload of SAMPLES_PER_BATCH samples (plus a failover event every fifth)."""
    first = 1000 + index * (SAMPLES_PER_BATCH + 1)
    samples = [sample(first + i) for i in range(SAMPLES_PER_BATCH)]
    events = []
    if index % 5 == 0:
        events.append({"seq": first + SAMPLES_PER_BATCH, "ts_ms": T0_MS + first * 10_000,
                       "kind": "failover", "severity": "warning",
                       "message": "uplink fiber down (3 of 5 probes failed), switched to lte",
                       "data": {"from": "fiber", "to": "lte", "reason": "failover",
                                "switch_ms": 12.1, "flushed": 3, "applied": True}})
    obj = {"schema": "kotanet.tele/1", "site": "taman-kota", "node": "tk-01",
           "ts_ms": T0_MS + first * 10_000, "session": 42, "seq": first, "historical": False,
           "samples": samples, "events": events, "dropped": []}
    return json.dumps(obj, separators=(",", ":")).encode()


def hostile() -> list[bytes]:
    """Payloads a stolen node might send: deep nesting, huge numbers, NaN, long lists."""
    good = json.loads(batch(1))
    out = [b"[" * 100_000 + b"]" * 100_000,
           b'{"schema":"kotanet.tele/1","x":' + b"9" * 200_000 + b"}",
           re.sub(rb'"cpu_pct":[0-9.]+', b'"cpu_pct":NaN', batch(1), count=1),
           re.sub(rb'"temp_c":[0-9.]+', b'"temp_c":1e999', batch(1), count=1)]
    deep = {**good, "events": [{"ts_ms": 1, "kind": "x", "seq": good["seq"],
                                "data": json.loads("[" * 150 + "]" * 150)}], "samples": []}
    out.append(json.dumps(deep).encode())
    wide = {**good, "samples": [good["samples"][0]] * 6000}
    out.append(json.dumps(wide).encode()[:250_000])
    return out


def _cpu_rate(fn: Callable[[bytes], object], payloads: list[bytes]) -> float:
    """Samples per CPU second of this process for fn over every payload once.

    CPU time, not wall time: the machine is shared, and a neighbour's load must not count."""
    t0 = time.process_time()
    for p in payloads:
        fn(p)
    return len(payloads) * SAMPLES_PER_BATCH / (time.process_time() - t0)


def side_by_side(payloads: list[bytes], runs: int) -> tuple[list[float], list[float]]:
    """decode and json.loads rates, measured in back-to-back pairs (order alternating)."""
    dec: list[float] = []
    anc: list[float] = []
    for i in range(runs):
        if i % 2:
            anc.append(_cpu_rate(json.loads, payloads))
            dec.append(_cpu_rate(_decode, payloads))
        else:
            dec.append(_cpu_rate(_decode, payloads))
            anc.append(_cpu_rate(json.loads, payloads))
    return dec, anc


def _decode(payload: bytes) -> object:
    return decode(TOPICS, TOPIC, payload)


def refusals(payloads: list[bytes], reps: int) -> tuple[float, int, int]:
    """Hostile payloads handled per second, and how many were accepted / raised a non-CodecError."""
    accepted = escaped = 0
    t0 = time.perf_counter()
    for _ in range(reps):
        for p in payloads:
            try:
                decode(TOPICS, TOPIC, p)
                accepted += 1
            except CodecError:
                pass
            except Exception:  # what the hardening must make impossible
                escaped += 1
    return reps * len(payloads) / (time.perf_counter() - t0), accepted // reps, escaped // reps


def main(argv: list[str] | None = None) -> int:
    """Run the bench and print JSON lines, the headline last."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="41 pairs instead of 201 (a few seconds)")
    p.add_argument("--runs", type=int, help="number of side-by-side runs (median reported)")
    args = p.parse_args(argv)
    runs = args.runs or (41 if args.quick else 201)
    payloads = [batch(i) for i in range(BATCHES)]
    for raw in payloads:  # the bench must measure honest, accepted payloads
        _decode(raw)
    side_by_side(payloads, 3)  # warm-up (lazy schema builds, caches)
    dec, anc = side_by_side(payloads, runs)
    ratios = [d / a for d, a in zip(dec, anc, strict=True)]
    gc.freeze()  # what a long-running collector can do after start-up (informational)
    gc.set_threshold(7_000, 10, 10)
    tuned_dec, tuned_anc = side_by_side(payloads, max(11, runs // 4))
    gc.set_threshold(*GC_DEFAULT)
    gc.unfreeze()
    bad = hostile()
    hostile_runs = [refusals(bad, 2 if args.quick else 5) for _ in range(3)]
    refused = statistics.median(r[0] for r in hostile_runs)
    accepted, escaped = hostile_runs[0][1], hostile_runs[0][2]
    value, anchor, ratio = (statistics.median(x) for x in (dec, anc, ratios))
    tuned = statistics.median(d / a for d, a in zip(tuned_dec, tuned_anc, strict=True))
    kib = statistics.mean(len(x) for x in payloads) / 1024
    q = statistics.quantiles(ratios, n=4)
    print(json.dumps({"bench": "codec", "metric": "json_loads_samples_per_s",
                      "value": round(anchor), "unit": "samples/s", "runs": len(anc)}))
    print(json.dumps({"bench": "codec", "metric": "decode_vs_json_loads_ratio_quartiles",
                      "value": [round(x, 3) for x in q], "runs": len(ratios),
                      "payload_kib": round(kib, 1), "samples_per_batch": SAMPLES_PER_BATCH}))
    print(json.dumps({"bench": "codec", "metric": "decode_ratio_gc_tuned", "value": round(tuned, 3),
                      "unit": "x json.loads", "note": "gc.freeze() + gen0 threshold 7000, as a "
                      "collector could set after start-up; not the headline"}))
    print(json.dumps({"bench": "codec", "metric": "hostile_refused_per_s",
                      "value": round(refused), "unit": "payloads/s", "kinds": len(bad),
                      "accepted": accepted, "other_exceptions": escaped,
                      "ok": accepted == 0 and escaped == 0}))
    print(json.dumps({
        "bench": "codec", "metric": "decode_samples_per_s", "value": round(value),
        "unit": "samples/s",
        "goal": f">= {GOAL_RATIO:g}x json.loads (stretch >= {STRETCH_RATIO:g}x)",
        "anchor": round(anchor), "ratio": round(ratio, 3),
        "ok": ratio >= GOAL_RATIO and accepted == 0 and escaped == 0}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
