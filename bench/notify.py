"""Notifications: what durability costs, and the incident round at fleet scale.

Side by side in one run, against one loopback webhook receiver (aiohttp, HMAC checked):

* outbox delivery: N signed webhook messages over 5 routes through the durable outbox (claim
  = one transaction, deliver, mark sent = one transaction; central.notify.sender) vs the
  anchor: the same N messages POSTed directly by the same channel code, no outbox. The ratio
  outbox / direct is the price of never losing or reordering a message (goal: <= 3x);
* the incident round (central.alerts.incident_store.IncidentStore.round: load, correlate,
  write, queue) with 2,000 nodes at 40 sites and 400 active alerts (a fifth of the fleet on
  backup behind failed upstreams), median of the rounds; goal: well inside the 5 s alert
  interval (<= 500 ms).

Usage: ``python bench/notify.py [--quick]``; JSON line per figure, the last is the headline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from central.alerts.incident_store import IncidentStore  # noqa: E402
from central.alerts.incidents import ActiveAlert, IncidentConfig, SiteInfo  # noqa: E402
from central.notify.channels import Channel  # noqa: E402
from central.notify.config import NotifySection  # noqa: E402
from central.notify.outbox import OutboxStore, enqueue_hook  # noqa: E402
from central.notify.sender import Sender  # noqa: E402

GOAL_RATIO = 3.0
GOAL_ROUND_MS = 500.0


async def receiver() -> tuple[web.AppRunner, str, list[str]]:
    seen: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        seen.append(request.headers["X-Kotanet-Idempotency-Key"])
        return web.Response(status=204)
    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/hook", seen


def config(tmp: Path, url: str) -> NotifySection:
    (tmp / "key").write_text("bench-key")
    return NotifySection.model_validate({
        "channels": [{"id": "hook", "type": "webhook", "url": url,
                      "secret_file": str(tmp / "key")}],
        "routes": [{"id": f"r{i}", "channel": "hook", "lang": "en"} for i in range(5)]})


async def delivery(n: int, tmp: Path) -> dict[str, float]:
    runner, url, seen = await receiver()
    try:
        cfg = config(tmp, url)
        body = {"event": "opened", "text": "x" * 300, "subject": "bench"}
        # anchor: the same channel code, direct
        channel = Channel(cfg.channels[0])
        t = time.perf_counter()
        for i in range(n):
            await channel.send({**body, "idempotency_key": f"direct-{i}"},
                               cfg.routes[i % 5])
        direct = time.perf_counter() - t
        outbox = OutboxStore(tmp / "state.db")
        for i in range(n):
            outbox.add(f"outbox-{i}", f"r{i % 5}", "opened",
                       {**body, "idempotency_key": f"outbox-{i}"}, 0)
        sender = Sender(outbox, cfg, "bench", clock_ms=lambda: 1)
        t = time.perf_counter()
        for _ in range(n):  # bounded: each round delivers at least one per route
            if await sender.drain() == 0:
                break
        durable = time.perf_counter() - t
        assert outbox.counts() == {"sent": n}, outbox.counts()
        outbox.close()
        assert len(seen) == 2 * n
        return {"direct_s": direct, "outbox_s": durable}
    finally:
        await runner.cleanup()


def incident_round(tmp: Path, rounds: int) -> list[float]:
    sites = {f"s{i}": SiteInfo(f"up{i // 4}", f"Upstream {i // 4}", "park") for i in range(40)}
    cfg = NotifySection.model_validate({
        "channels": [{"id": "m", "type": "email", "host": "127.0.0.1",
                      "from_addr": "k@example.test"}],
        "routes": [{"id": "all", "channel": "m", "to": ["a@x"], "min_severity": "info"}]})
    OutboxStore(tmp / "inc.db").close()
    store = IncidentStore(tmp / "inc.db")
    hook = enqueue_hook(cfg)
    icfg = IncidentConfig(settle_s=0, resolve_hold_s=600)
    active = [ActiveAlert(i + 1, f"n{i:04d}", f"s{(i * 5) % 40}",
                          "backup_uplink" if i % 3 else "disk_full", "warning", 0)
              for i in range(0, 2000, 5)]
    times = []
    for r in range(rounds):
        t = time.perf_counter()
        store.round(active, sites, 1_000 * (r + 1), icfg, hook)
        times.append((time.perf_counter() - t) * 1000)
    store.close()
    return times


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n = 200 if args.quick else 1000
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        times = incident_round(tmp, 10 if args.quick else 30)
        med = statistics.median(times)
        print(json.dumps({"bench": "notify_incident_round", "metric": "round_median",
                          "value": round(med, 1), "unit": "ms", "nodes": 2000,
                          "active_alerts": 400, "rounds": len(times),
                          "first_round_ms": round(times[0], 1),
                          "goal": f"<= {GOAL_ROUND_MS:g} ms", "ok": med <= GOAL_ROUND_MS}))
        res = asyncio.run(delivery(n, tmp))
    rate = n / res["outbox_s"]
    anchor = n / res["direct_s"]
    ratio = res["outbox_s"] / res["direct_s"]
    print(json.dumps({
        "bench": "notify_outbox", "metric": "webhook_delivery_rate", "value": round(rate, 1),
        "unit": "msgs/s", "goal": f"outbox time <= {GOAL_RATIO:g} x direct, round <= "
        f"{GOAL_ROUND_MS:g} ms", "anchor": round(anchor, 1), "ratio": round(ratio, 3),
        "messages": n, "routes": 5, "incident_round_ms": round(med, 1),
        "ok": ratio <= GOAL_RATIO and med <= GOAL_ROUND_MS}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
