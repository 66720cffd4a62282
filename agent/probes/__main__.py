"""Run the configured probes and print one JSON line per round (diagnosis, tests, bench).

``python -m agent.probes --config agent.toml|agent.json [--rounds N] [--interval S]
[--only link,users,system] [--link-every S]`` - with --link-every the link probes run on
their own at that period between full rounds (as the agent does with 1 s link probes).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from agent.config import ConfigError, load_config, parse_config
from agent.probes.base import ProbeRunner
from agent.probes.registry import build_probes


def _rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    ru = resource.getrusage(who)
    return ru.ru_utime + ru.ru_stime


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    ap = argparse.ArgumentParser(prog="python -m agent.probes")
    ap.add_argument("--config", required=True)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.0)
    ap.add_argument("--only", default="")
    ap.add_argument("--link-every", type=float, default=0.0)
    args = ap.parse_args(argv)
    try:
        if args.config.endswith(".json"):
            cfg = parse_config(json.loads(Path(args.config).read_text()), args.config)
        else:
            cfg = load_config(args.config)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"config: {exc}", file=sys.stderr)
        return 2
    probes = build_probes(cfg)
    if args.only:
        wanted = set(args.only.split(","))
        probes = [p for p in probes if p.name.split(":")[0] in wanted]
    links = [p for p in probes if p.name.startswith("link:")]
    runner = ProbeRunner(probes, timeout_s=cfg.agent.probe_timeout_s)
    link_runner = ProbeRunner(list(links), timeout_s=cfg.agent.probe_timeout_s)
    try:
        for i in range(max(1, args.rounds)):
            cpu0, t0 = _cpu_s(), time.monotonic()
            results = runner.run_all()
            cpu1, t1 = _cpu_s(), time.monotonic()
            print(json.dumps({
                "round": i, "wall_s": round(t1 - t0, 6), "cpu_s": round(cpu1 - cpu0, 6),
                "rss_kb": _rss_kb(), "mono_s": round(t1, 3),
                # helpers it ran and waited for (ip, ndsctl, ...), cumulative since start
                "children_cpu_s": round(_cpu_s(resource.RUSAGE_CHILDREN), 6),
                "results": [{"name": r.name, "status": r.status, "detail": r.detail,
                             "duration_ms": round(r.duration_ms, 3), "data": r.data}
                            for r in results]}), flush=True)
            end = t0 + args.interval
            if i + 1 < args.rounds:
                _idle(end, args.link_every, link_runner)
    finally:
        runner.close()
        link_runner.close()
    return 0


def _idle(end: float, link_every: float, link_runner: ProbeRunner) -> None:
    """Wait until ``end``, running the link probes every ``link_every`` seconds meanwhile."""
    for _ in range(100_000):
        now = time.monotonic()
        if now >= end:
            return
        if link_every > 0:
            nxt = now + link_every
            link_runner.run_all()
            time.sleep(max(0.0, min(end, nxt) - time.monotonic()))
        else:
            time.sleep(end - now)


if __name__ == "__main__":
    sys.exit(main())
