"""``make fuzz``: run every tests/fuzz handler on many random examples; print counts, crashes.

Usage: ``python tests/fuzz/run.py [--examples N] [--jobs J] [-k EXPR]``. Each handler (one
file tests/fuzz/test_fuzz_<name>.py) gets at least N examples in all (default 100,000), shared
evenly by its fuzz tests; every test runs in its own pytest process, J at a time (default:
the number of CPUs), randomised. Prints one line per handler (examples, per input kind,
crashes) and a total line ending in "0 crashes" when nothing but the handlers' refusals
escaped; exits 1 on any crash (the failing test's output shows the shrunk example). The full
run (3 handlers, 300,000 examples) takes about 40 minutes on a 2-CPU machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EXAMPLES = 100_000
# Log records below ERROR are dropped (a handler's refusal logs a warning per example: 100,000
# of them cost time and memory, and buried the falsifying example under the output's tail).
PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout=0",
          "--log-level=ERROR", "--show-capture=no"]


def collect(select: str | None) -> dict[str, list[str]]:
    """Fuzz test ids grouped by file (one file = one handler)."""
    out = subprocess.run([*PYTEST, "--collect-only", "tests/fuzz",
                          *(["-k", select] if select else [])],
                         cwd=ROOT, capture_output=True, text=True, check=False).stdout
    tests: dict[str, list[str]] = defaultdict(list)
    for line in out.splitlines():
        if "::" in line:
            tests[line.split("::")[0]].append(line.strip())
    return tests


def run_one(test_id: str, examples: int, report: Path) -> tuple[str, int, str]:
    """One fuzz test in its own process: (test id, exit code, output tail)."""
    env = {**os.environ, "KOTANET_FUZZ_EXAMPLES": str(examples), "KOTANET_FUZZ_RANDOM": "1",
           "KOTANET_FUZZ_REPORT": str(report)}
    proc = subprocess.run([*PYTEST, test_id], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)
    return test_id, proc.returncode, "\n".join(proc.stdout.splitlines()[-60:])


def main(argv: list[str] | None = None) -> int:
    """Run the fuzz tests in parallel and summarise their reports."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--examples", type=int, default=DEFAULT_EXAMPLES, help="examples per handler")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel processes")
    p.add_argument("-k", dest="select", help="pytest -k expression (some handlers only)")
    args = p.parse_args(argv)
    files = collect(args.select)
    if not files:
        print("fuzz: no fuzz tests collected")
        return 1
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    crashes: Counter[str] = Counter()
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="kotanet-fuzz-") as tmp, \
            ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        jobs = []
        for tests in files.values():
            each = math.ceil(args.examples / len(tests))
            for i, test_id in enumerate(tests):
                report = Path(tmp) / f"{len(jobs)}-{i}.json"
                jobs.append((report, pool.submit(run_one, test_id, each, report)))
        print(f"fuzz: {len(jobs)} tests, >= {args.examples} examples per handler, "
              f"{args.jobs} at a time", flush=True)
        for report, job in jobs:
            test_id, rc, tail = job.result()
            data = json.loads(report.read_text()) if report.exists() else {"counts": {}}
            for handler, labels in data["counts"].items():
                counts[handler].update(labels)
                crashes[handler] += int(rc != 0)
            if rc != 0:
                crashes[test_id] += 0 if data["counts"] else 1
                print(f"--- {test_id} FAILED (exit {rc})\n{tail}", flush=True)
    for handler, labels in sorted(counts.items()):
        parts = ", ".join(f"{label} {n}" for label, n in sorted(labels.items()))
        print(f"{handler}: {sum(labels.values())} examples ({parts}), {crashes[handler]} crashes")
    total = sum(sum(v.values()) for v in counts.values())
    print(f"total: {total} examples in {time.monotonic() - t0:.0f} s, "
          f"{sum(crashes.values())} crashes")
    return 1 if sum(crashes.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
