"""Run every bench/*.py, collect their JSON headlines, write docs/benchmarks.md and an SVG plot.

Usage: ``python bench/report.py [--quick] [--timeout S] [--bench-dir DIR] [--docs-dir DIR]``.
Each bench prints JSON lines; its last line is the headline
``{"bench","metric","value","unit","goal","anchor","ratio","ok"}``. Benches run one after
another (never in parallel: they measure time). A bench that exits non-zero, times out or
prints no valid headline is listed as failed with its stderr tail, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

log = logging.getLogger("bench.report")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KEYS = ("bench", "metric", "value", "unit", "goal", "anchor", "ratio", "ok")
QUICK_TIMEOUT_S = 120.0
FULL_TIMEOUT_S = 1800.0
TAIL_LINES = 20


@dataclass
class Result:
    """Outcome of one bench script."""

    script: str
    seconds: float
    headline: dict[str, Any] | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    stderr_tail: str = ""

    @property
    def failed(self) -> bool:
        """True if the script did not produce a valid headline."""
        return self.headline is None


def discover(bench_dir: Path) -> list[Path]:
    """Bench scripts in bench_dir: every *.py except this file and names starting with _."""
    me = Path(__file__).resolve()
    return [p for p in sorted(bench_dir.glob("*.py"))
            if not p.name.startswith("_") and p.resolve() != me and p.name != "report.py"]


def parse_output(stdout: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None, str]:
    """JSON-object lines of stdout, the headline (last line) or None, and why not."""
    objs: list[dict[str, Any]] = []
    last: dict[str, Any] | None = None
    for raw in stdout.splitlines():
        line = raw.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            last = None
            continue
        last = obj if isinstance(obj, dict) else None
        if last is not None:
            objs.append(last)
    if last is None:
        return objs, None, "last stdout line is not a JSON object headline"
    missing = [k for k in KEYS if k not in last]
    if missing:
        return objs, None, f"headline lacks {', '.join(missing)}"
    return objs[:-1], last, ""


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-TAIL_LINES:])


def run_one(script: Path, quick: bool, timeout_s: float) -> Result:
    """Run one bench in its own process group; kill the whole group on timeout."""
    cmd = [sys.executable, str(script), *(["--quick"] if quick else [])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        res = Result(script.name, time.monotonic() - t0, error=f"timed out after {timeout_s:g}s",
                     stderr_tail=_tail(err))
        log.warning("%s: %s", script.name, res.error)
        return res
    res = Result(script.name, time.monotonic() - t0, stderr_tail=_tail(err))
    res.lines, headline, why = parse_output(out)
    if proc.returncode != 0:
        res.error = f"exit code {proc.returncode}"
    elif headline is None:
        res.error = why
    else:
        res.headline = headline
    log.info("%s: %s in %.1fs", script.name, res.error or "ok", res.seconds)
    return res


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        return None
    return float(v)


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def render_svg(results: list[Result]) -> str:
    """A log-scale horizontal bar chart: ratio per headline, the goal as a tick."""
    rows = [r.headline for r in results if r.headline is not None]
    vals = [x for h in rows for x in (_num(h.get("ratio")), _num(h.get("goal"))) if x]
    lo_exp = math.floor(math.log10(min(vals + [1.0])))
    hi_exp = max(lo_exp + 1, math.ceil(math.log10(max(vals + [10.0]))))
    lo, hi = 10.0**lo_exp, 10.0**hi_exp
    left, width, bar_h, gap, top = 240, 460, 18, 10, 40
    height = top + max(1, len(rows)) * (bar_h + gap) + 40

    def x(v: float) -> float:
        return left + width * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 200}" '
           f'height="{height}" font-family="sans-serif" font-size="12">',
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="20" font-size="14" font-weight="bold">ratio vs goal '
           '(log scale; bar = measured ratio, black tick = goal)</text>']
    for exp in range(lo_exp, hi_exp + 1):
        gx = x(10.0**exp)
        out.append(f'<line x1="{gx:.1f}" y1="{top - 6}" x2="{gx:.1f}" y2="{height - 30}" '
                   f'stroke="{"#888" if exp == 0 else "#ddd"}"/>')
        out.append(f'<text x="{gx:.1f}" y="{height - 14}" text-anchor="middle">'
                   f'{10.0**exp:g}x</text>')
    if not rows:
        out.append(f'<text x="{left}" y="{top + 14}">no headlines</text>')
    for i, h in enumerate(rows):
        y = top + i * (bar_h + gap)
        label = escape(f"{h.get('bench')}: {h.get('metric')}"[:34])
        out.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end">{label}</text>')
        ratio, goal = _num(h.get("ratio")), _num(h.get("goal"))
        color = "#2e7d32" if h.get("ok") is True else "#c62828"
        if ratio is not None:
            out.append(f'<rect class="bar" x="{left}" y="{y}" width="{max(1.0, x(ratio) - left):.1f}" '
                       f'height="{bar_h}" fill="{color}"/>')
        text = ("n/a" if ratio is None else f"{ratio:.3g}x") + f" (goal {h.get('goal')})"
        out.append(f'<text x="{left + width + 8}" y="{y + 13}">{escape(text)}</text>')
        if goal is not None:
            gx = x(goal)
            out.append(f'<line class="goal" x1="{gx:.1f}" y1="{y - 3}" x2="{gx:.1f}" '
                       f'y2="{y + bar_h + 3}" stroke="black" stroke-width="3"/>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def render_markdown(results: list[Result], quick: bool, svg_name: str) -> str:
    """The benchmarks page: table, plot link, failures with stderr tails."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    md = ["# kotanet benchmarks", "",
          f"Generated by `python bench/report.py{' --quick' if quick else ''}` on {when} "
          f"(Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs). Each bench measures its figure and its anchor side by side "
          "in the same run; `ratio` compares them, `ok` says whether the goal is met.", "",
          "| " + " | ".join(KEYS) + " |", "|" + "---|" * len(KEYS)]
    for r in results:
        if r.headline is not None:
            md.append("| " + " | ".join(_cell(r.headline.get(k)) for k in KEYS) + " |")
        else:
            md.append(f"| {_cell(r.script)} | **FAILED**: {_cell(r.error)} |" + " - |" * 6)
    md += ["", f"![ratio vs goal per headline]({svg_name})", ""]
    detailed = [r for r in results if r.lines]
    if detailed:
        md += ["## Every figure", "", "Each bench's JSON lines before its headline (per-run and "
               "per-case figures, medians, anchors), as printed.", ""]
        for r in detailed:
            md += [f"### {r.script}", "", "```json",
                   *(json.dumps(line, ensure_ascii=False) for line in r.lines[:40]),
                   "```", ""]
    failed = [r for r in results if r.failed]
    if failed:
        md += ["## Failed benches", ""]
        for r in failed:
            md += [f"### {r.script}", "", f"{r.error} after {r.seconds:.1f}s. stderr (tail):", "",
                   "```", r.stderr_tail or "(empty)", "```", ""]
    if not results:
        md += ["No bench scripts were found.", ""]
    return "\n".join(md)


def main(argv: list[str] | None = None) -> int:
    """Run the benches and write the report; 1 if any bench failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="pass --quick to every bench")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per bench")
    ap.add_argument("--bench-dir", type=Path, default=HERE)
    ap.add_argument("--docs-dir", type=Path, default=ROOT / "docs")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    timeout = args.timeout or (QUICK_TIMEOUT_S if args.quick else FULL_TIMEOUT_S)
    results = [run_one(s, args.quick, timeout) for s in discover(args.bench_dir)]
    args.docs_dir.mkdir(parents=True, exist_ok=True)
    (args.docs_dir / "benchmarks.svg").write_text(render_svg(results), encoding="utf-8")
    (args.docs_dir / "benchmarks.md").write_text(
        render_markdown(results, args.quick, "benchmarks.svg"), encoding="utf-8")
    failed = [r.script for r in results if r.failed]
    log.info("wrote %s (%d benches, %d failed)", args.docs_dir / "benchmarks.md", len(results),
             len(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
