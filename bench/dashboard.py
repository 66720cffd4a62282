"""NOC render time with 2,000 nodes in the database, in real headless Chromium.

Measures, side by side in one run: the fleet page (navigation until every node row is drawn),
the node page (until its charts are drawn) and, as the anchor, the plain JSON list
/api/v1/nodes fetched by the same logged-in browser. Medians of several runs.
Usage: ``python bench/dashboard.py [--quick] [--nodes N]``; last line is the headline JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "noc"))

from aiohttp import web  # noqa: E402
from noc_helpers import PASSWORD, build_app, central_cfg, fill, open_db, sample  # noqa: E402

from agent.sim.fleet import load_sites  # noqa: E402
from central.noc import assets  # noqa: E402
from central.noc.store import create_user  # noqa: E402
from central.storage import Incoming  # noqa: E402
from protocol.messages import Tele  # noqa: E402
from provisioning.localbroker import free_port  # noqa: E402

CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
GOAL_MS = 1000.0


def serve(app: web.Application, port: int, stop: threading.Event, ready: threading.Event) -> None:
    """Run the app on 127.0.0.1:port until stop is set (in this thread's own loop)."""
    async def main() -> None:
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await runner.cleanup()
    asyncio.run(main())


def populate(db: Path, n: int) -> str:
    """n nodes over the Sampit sites with a few samples each; one node with an hour at 10 s."""
    storage = open_db(db)
    sites = load_sites()
    nodes = [(f"{sites[i % len(sites)].site}-{i // len(sites) + 1:03d}", sites[i % len(sites)].site)
             for i in range(n)]
    now = int(time.time() * 1000)
    fill(storage, nodes, samples_per_node=6, now_ms=now,
         offline={nd for i, (nd, _) in enumerate(nodes) if i % 50 == 7},
         backup={nd for i, (nd, _) in enumerate(nodes) if i % 40 == 3})
    busy, site = nodes[0]
    smp = [sample(100 + i, now - 3600_000 + i * 10_000, users=20 + i % 30) for i in range(360)]
    storage.write([Incoming(site, busy, Tele.model_validate(
        {"site": site, "node": busy, "ts_ms": now, "session": 1, "seq": 100, "samples": smp}),
        now)])
    storage.close()
    return busy


def main(argv: list[str] | None = None) -> int:
    """Build the DB, serve central + NOC, measure in Chromium, print JSON lines."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer repetitions (< 60 s)")
    p.add_argument("--nodes", type=int, default=2000)
    args = p.parse_args(argv)
    reps = 4 if args.quick else 15
    if not (ROOT / "node_modules" / "uplot").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True,
                       capture_output=True, timeout=240)
    assets.install(ROOT / "node_modules")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "central.db"
        busy = populate(db, args.nodes)
        create_user(db, "bench", PASSWORD, "viewer")
        storage = open_db(db)
        app = build_app(central_cfg(db), storage)
        port, stop, ready = free_port(), threading.Event(), threading.Event()
        th = threading.Thread(target=serve, args=(app, port, stop, ready), daemon=True)
        th.start()
        ready.wait(30)
        base = f"http://127.0.0.1:{port}"
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROME_ARGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{base}/noc/login")
                page.fill("#username", "bench")
                page.fill("#password", PASSWORD)
                page.click("#login-submit")
                page.wait_for_url(f"{base}/noc/")
                mark = """(name) => { const m = performance.getEntriesByName(name)[0];
                    return m ? m.startTime : null; }"""

                def opened(path: str, name: str) -> float:
                    """A fresh open (from about:blank, as a NOC screen starts): navigation
                    start -> the page's own mark (rows drawn / charts drawn), browser clock."""
                    page.goto("about:blank")
                    page.goto(base + path)
                    page.wait_for_function(f"() => performance.getEntriesByName('{name}').length",
                                           timeout=30000)
                    return float(page.evaluate(mark, name))

                def fleet_page() -> float:
                    ms = opened("/noc/", "noc-rows")
                    n = page.locator("#nodes tbody tr").count()
                    assert n == args.nodes, f"{n} rows drawn, expected {args.nodes}"
                    return ms

                def node_page() -> float:
                    return opened(f"/noc/nodes/{busy}", "noc-charts-1h")

                def api_ms() -> float:
                    return float(page.evaluate("""async () => { const t0 = performance.now();
                        const r = await fetch('/api/v1/nodes'); const j = await r.json();
                        if (!j.nodes.length) throw new Error('empty');
                        return performance.now() - t0; }"""))

                fleet_page()  # warm-up (static files cached, like a NOC screen all day)
                node_page()
                fleet = [fleet_page() for _ in range(reps)]
                node = [node_page() for _ in range(reps)]
                anchor = [api_ms() for _ in range(reps)]
                browser.close()
        finally:
            stop.set()
            th.join(30)
            storage.close()
    f_ms, n_ms, a_ms = (statistics.median(x) for x in (fleet, node, anchor))
    print(json.dumps({"bench": "dashboard", "metric": "node_page_render", "value": round(n_ms),
                      "unit": "ms", "goal": f"< {GOAL_MS:.0f}", "runs": [round(x) for x in node],
                      "ok": n_ms < GOAL_MS}))
    print(json.dumps({"bench": "dashboard", "metric": "api_nodes_list_fetch",
                      "value": round(a_ms), "unit": "ms", "runs": [round(x) for x in anchor]}))
    print(json.dumps({"bench": "dashboard", "metric": f"fleet_page_render_{args.nodes}_nodes",
                      "value": round(f_ms), "unit": "ms",
                      "goal": f"< {GOAL_MS:.0f} (fleet and node page)", "anchor": round(a_ms),
                      "ratio": round(f_ms / a_ms, 2), "ok": f_ms < GOAL_MS and n_ms < GOAL_MS}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
