"""Live fleet: poll storage every ~0.5 s, push node diffs to every open dashboard WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSMsgType, web

from central.api.jsonout import dumps, json_response
from central.clock import wall_ms
from central.noc import fleet
from central.noc.context import Noc
from central.noc.incident_feed import IncidentFeed
from central.noc.security import get_session

log = logging.getLogger(__name__)


class Hub:
    """The latest fleet views and the open WebSockets; one polling task per app."""

    def __init__(self, noc: Noc) -> None:
        self.noc = noc
        self.clients: dict[web.WebSocketResponse, str] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.gap_nodes: set[str] = set()
        self.primary: dict[str, str] = {}
        self.sites: dict[str, dict[str, Any]] = {}
        self._slow_at = 0.0
        self._cache: tuple[float, dict[str, dict[str, Any]]] = (0.0, {})
        # --- incidents (issue 16): the alert engine's incidents, pushed as "incidents" ---
        self.incidents = IncidentFeed(noc.extra.get("incidents"))
        self.incident_only: set[web.WebSocketResponse] = set()  # /noc/ws?feed=incidents
        # --- end incidents ---

    def refresh_slow(self) -> None:
        """Gaps, primary uplinks and site metadata (seconds-old is fine); blocking."""
        now = wall_ms()
        self.gap_nodes = {g.node for g in self.noc.storage.gaps(now, self.noc.grace_ms)}
        self.primary = self.noc.store.primary_uplinks()
        self.sites = self.noc.store.sites()
        self._slow_at = time.monotonic()

    def compute(self) -> dict[str, dict[str, Any]]:
        """Fresh node views from storage; blocking (run it in a thread)."""
        if time.monotonic() - self._slow_at > self.noc.settings.slow_refresh_s:
            self.refresh_slow()
        rows = self.noc.storage.list_nodes()
        views = {r["node"]: fleet.node_view(r, self.primary.get(r["node"]), self.gap_nodes)
                 for r in rows}
        self._cache = (time.monotonic(), views)
        return views

    def current(self) -> dict[str, dict[str, Any]]:
        """Views at most one poll interval old (cached), else fresh; blocking."""
        if self.incidents.store is not None and not self.incidents.polled:
            self.incidents.poll()  # incidents: the alerts tile's first count
        at, views = self._cache
        if views and time.monotonic() - at <= self.noc.settings.poll_s:
            return views
        return self.compute()

    def snapshot(self, views: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Everything the fleet page needs: nodes, tiles, map markers."""
        vs = list(views.values())
        tiles: dict[str, Any] = dict(fleet.tiles(vs))
        # --- incidents: the alerts tile counts the alert engine's active incidents ---
        if self.incidents.store is not None:
            tiles.update(alerts=self.incidents.counts["active"],
                         incidents=dict(self.incidents.counts))
        # --- end incidents ---
        return {"nodes": vs, "tiles": tiles, "sites": fleet.map_sites(vs, self.sites),
                "no_coords": fleet.without_coords(vs, self.sites), "now": wall_ms()}

    async def tick(self) -> None:
        """One poll: compute, diff, push to every client."""
        new = await asyncio.to_thread(self.compute)
        changed, removed = fleet.diff(self.views, new)
        self.views = new
        await self.push_incidents()  # incidents (issue 16)
        if not (changed or removed) or not self.clients:
            return
        snap = self.snapshot(new)
        msg = {"type": "diff", "changed": changed, "removed": removed, "tiles": snap["tiles"],
               "sites": snap["sites"], "now": snap["now"]}
        for ws in [c for c in self.clients if c not in self.incident_only]:
            try:
                await ws.send_json(msg, dumps=dumps)
            except (ConnectionError, RuntimeError):
                self.clients.pop(ws, None)

    # --- incidents (issue 16) ---
    async def push_incidents(self, force: bool = False) -> None:
        """Send the incidents that changed since the last poll to every client (force: poll
        even without clients, so that a new client's first message is current)."""
        if self.incidents.store is None or not (self.clients or force):
            return
        first = not self.incidents.polled
        changed = await asyncio.to_thread(self.incidents.poll)
        if not changed or first:
            return
        now = wall_ms()
        full = self.incidents.message(changed, now)
        counts = self.incidents.message([], now)  # the fleet page needs only the counts
        for ws in list(self.clients):
            try:
                await ws.send_json(full if ws in self.incident_only else counts, dumps=dumps)
            except (ConnectionError, RuntimeError):
                self.clients.pop(ws, None)
    # --- end incidents ---

    async def revalidate(self) -> None:
        """Close sockets whose session ended (logout, expiry, user disabled)."""
        idle = int(self.noc.settings.session_idle_s * 1000)
        for ws, sid_hash in list(self.clients.items()):
            alive = await asyncio.to_thread(self.noc.store.session_alive, sid_hash, idle)
            if not alive:
                self.clients.pop(ws, None)
                await ws.close(code=4401, message=b"session ended")


HUB = web.AppKey("noc_hub", Hub)


async def hub_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the poller for exactly the app's lifetime."""
    hub = app[HUB]

    async def loop() -> None:
        n = 0
        while True:
            try:
                if hub.clients or not hub.views:
                    await hub.tick()
                n += 1
                if n % 20 == 0 and hub.clients:
                    await hub.revalidate()
            except Exception:
                log.exception("live fleet poll failed")
            await asyncio.sleep(hub.noc.settings.poll_s)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for ws in list(hub.clients):
        await ws.close(code=1001, message=b"server shutdown")


async def websocket(request: web.Request) -> web.StreamResponse:
    """The dashboard's live channel: a snapshot, then diffs (logged-in users, same origin)."""
    sess = await get_session(request)
    if sess is None:
        return json_response({"error": "login required"}, status=401)
    origin = request.headers.get("Origin")
    if origin is not None and origin.split("://", 1)[-1] != request.host:
        return json_response({"error": "cross-origin WebSocket refused"}, status=403)
    hub = request.app[HUB]
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    if request.query.get("feed") == "incidents":  # the incidents page: incidents only
        await hub.push_incidents(force=True)  # the others get what changed, this one all
        hub.incident_only.add(ws)
        await ws.send_json(hub.incidents.message(hub.incidents.everything(), wall_ms()),
                           dumps=dumps)
    else:
        views = await asyncio.to_thread(hub.current)  # hub.views stays: the next tick diffs
        await ws.send_json({"type": "snapshot", **hub.snapshot(views)}, dumps=dumps)
    hub.clients[ws] = sess.sid_sha256
    try:
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        hub.clients.pop(ws, None)
        hub.incident_only.discard(ws)
    return ws
