"""A large backlog stays on disk: forwarding 20,000 records does not grow the process's RSS."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import json, sys, psutil
    from agent.config import parse_config
    from agent.transport.forwarder import Forwarder
    from agent.transport.outbox import Outbox
    from protocol.messages import DeliveryReceipt

    path, n = sys.argv[1], int(sys.argv[2])
    cfg = parse_config({"node": {"id": "mem", "site": "s"},
                        "outbox": {"flush_every": 500, "window": 8, "batch_max_records": 200}})
    ob = Outbox(path, cfg.outbox)
    body = {"ts_ms": 0, "uplinks": [{"name": "wan", "up": True, "rtt_ms": 12.0}],
            "users": {"associated": 4}, "system": {"cpu_pct": 3.0}, "probes": [
            {"name": "p%d" % i, "status": "ok", "detail": "x" * 40} for i in range(6)]}
    for i in range(n):
        ob.add("sample", i, body)
    ob.close()

    ob = Outbox(path, cfg.outbox)
    sent = []
    fwd = Forwarder(cfg, ob, lambda tele: sent.append(tele.record_seqs()) or len(sent))
    fwd.on_connected(1, 0.0)
    fwd.on_central_state("c1", True, 0.0)
    rss = psutil.Process().memory_info().rss
    peak, rounds = rss, 0
    while fwd.cursor < n - 1 and rounds < n:
        rounds += 1
        fwd.pump(0.0)
        for seqs in sent:
            fwd.on_receipt(DeliveryReceipt(site="s", node="mem", ts_ms=0, session=1,
                                           acked=[(min(seqs), max(seqs))]))
        sent.clear()
        ob.flush()
        peak = max(peak, psutil.Process().memory_info().rss)
    print(json.dumps({"start": rss, "peak": peak, "left": ob.count, "cursor": fwd.cursor,
                      "disk": ob.path.stat().st_size}))
""")


def test_forwarding_a_20k_backlog_keeps_rss_flat(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "ob.sqlite"), "20000"],
                       capture_output=True, text=True, timeout=120, check=True)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["cursor"] == 19999 and out["left"] == 0  # everything went out and was receipted
    assert out["disk"] > 8_000_000  # the backlog was large ...
    assert out["peak"] - out["start"] < 6_000_000  # ... but never came into RAM
