"""The nodes read API: node list and detail, samples and events windows, gaps and stats."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from central.api.auth import Route, json_error
from central.api.jsonout import dumps, json_response
from central.api.state import CONFIG, GAP_SUMMARY, STATS, STORAGE, grace_ms
from central.clock import wall_ms

log = logging.getLogger(__name__)

MAX_ROWS = 10000  # the largest ?limit= of a samples or events window
GAP_REFRESH_S = 15.0


def node_summary(row: dict[str, Any]) -> dict[str, Any]:
    """The list view of one node, as /api/v1/nodes returns it."""
    lag = None
    if row["last_received_ms"] is not None and row["last_sample_ms"] is not None:
        lag = row["last_received_ms"] - row["last_sample_ms"]
    throttle = None
    if row["throttle_version"] is not None:
        throttle = {"version": row["throttle_version"], "down_kbps": row["throttle_down_kbps"],
                    "up_kbps": row["throttle_up_kbps"]}
    return {
        "node": row["node"], "site": row["site"], "role": row["role"], "name": row["name"],
        "online": bool(row["online"]), "session": row["session"],
        "last_seen_ms": row["last_seen_ms"], "online_since_ms": row["online_since_ms"],
        "offline_since_ms": row["offline_since_ms"], "active_uplink": row["active_uplink"],
        "users": row["users_total"], "users_authenticated": row["users_authenticated"],
        "rtt_ms": row["rtt_ms"], "loss_pct": row["loss_pct"], "cpu_pct": row["cpu_pct"],
        "temp_c": row["temp_c"], "throttle": throttle, "unregistered": bool(row["unregistered"]),
        "last_seq": row["last_seq"], "last_sample_ms": row["last_sample_ms"],
        "delivery_lag_ms": lag,
    }


async def list_nodes(request: web.Request) -> web.Response:
    """Every node with presence and headline figures (read and encoded off the event loop:
    2,000 nodes take milliseconds that other requests, /healthz too, would wait for)."""
    storage = request.app[STORAGE]

    def body() -> str:
        return dumps({"nodes": [node_summary(r) for r in storage.list_nodes()]})
    return web.Response(text=await asyncio.to_thread(body), content_type="application/json")


async def get_node(request: web.Request) -> web.Response:
    """One node: birth info, last sample, presence, gaps and drops."""
    node = request.match_info["node"]
    d = await asyncio.to_thread(request.app[STORAGE].node_detail, node, wall_ms(),
                                grace_ms(request.app))
    if d is None:
        return json_error(404, f"unknown node {node!r}")
    return json_response({**node_summary(d), "birth": d["birth"], "birth_ms": d["birth_ms"],
                              "last_sample": d["last_sample"], "records": d["records"],
                              "gaps": d["gaps"], "drops": d["drops"]})


def _window(request: web.Request) -> tuple[int | None, int | None, int]:
    """since_ms, until_ms, limit from the query string; HTTPBadRequest on bad values."""
    vals: dict[str, int | None] = {}
    for key in ("since_ms", "until_ms", "limit"):
        raw = request.query.get(key)
        if raw is None or raw == "":
            vals[key] = None
            continue
        try:
            vals[key] = int(raw)
        except ValueError:
            raise web.HTTPBadRequest(text=f'{{"error": "{key} must be an integer"}}',
                                     content_type="application/json") from None
        if (vals[key] or 0) < 0:
            raise web.HTTPBadRequest(text=f'{{"error": "{key} must not be negative"}}',
                                     content_type="application/json")
    limit = 1000 if vals["limit"] is None else vals["limit"]
    if not 1 <= limit <= MAX_ROWS:
        raise web.HTTPBadRequest(text=f'{{"error": "limit must be 1..{MAX_ROWS}"}}',
                                 content_type="application/json")
    since, until = vals["since_ms"], vals["until_ms"]
    if since is not None and until is not None and until < since:
        raise web.HTTPBadRequest(text='{"error": "until_ms is before since_ms"}',
                                 content_type="application/json")
    return since, until, limit


async def node_samples(request: web.Request) -> web.Response:
    """Samples of a node in [since_ms, until_ms), oldest first."""
    node = request.match_info["node"]
    since, until, limit = _window(request)
    rows = await asyncio.to_thread(request.app[STORAGE].samples, node, since, until, limit)
    return json_response({"node": node, "samples": rows})


async def node_events(request: web.Request) -> web.Response:
    """Events of a node in [since_ms, until_ms), oldest first."""
    node = request.match_info["node"]
    since, until, limit = _window(request)
    rows = await asyncio.to_thread(request.app[STORAGE].events, node, since, until, limit)
    return json_response({"node": node, "events": rows})


async def list_gaps(request: web.Request) -> web.Response:
    """Every gap older than the grace period, minus agent-reported drops."""
    gaps = await asyncio.to_thread(request.app[STORAGE].gaps, wall_ms(), grace_ms(request.app))
    return json_response({"grace_s": request.app[CONFIG].gap_grace_s,
                              "gaps": [g.as_dict() for g in gaps]})


async def stats(request: web.Request) -> web.Response:
    """Collector counters and stored totals."""
    totals = await asyncio.to_thread(request.app[STORAGE].totals)
    return json_response({"instance": request.app[CONFIG].instance_id(),
                              "collector": request.app[STATS].snapshot(), "storage": totals,
                              "gaps": request.app[GAP_SUMMARY]})


ROUTES: list[Route] = [
    ("GET", "/api/v1/nodes", list_nodes, "viewer"),
    ("GET", "/api/v1/nodes/{node}", get_node, "viewer"),
    ("GET", "/api/v1/nodes/{node}/samples", node_samples, "viewer"),
    ("GET", "/api/v1/nodes/{node}/events", node_events, "viewer"),
    ("GET", "/api/v1/gaps", list_gaps, "viewer"),
    ("GET", "/api/v1/stats", stats, "viewer"),
]


async def gap_refresher(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: refresh GAP_SUMMARY every GAP_REFRESH_S for the app's lifetime."""
    async def loop() -> None:
        while True:
            try:
                gaps = await asyncio.to_thread(app[STORAGE].gaps, wall_ms(), grace_ms(app))
                per_node: dict[str, int] = {}
                for g in gaps:
                    per_node[g.node] = per_node.get(g.node, 0) + g.missing
                app[GAP_SUMMARY].update(count=len(gaps), missing=sum(per_node.values()),
                                        nodes=per_node, refreshed_ms=wall_ms())
            except Exception:
                log.exception("gap refresh failed")
            await asyncio.sleep(GAP_REFRESH_S)
    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
