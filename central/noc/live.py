"""Live fleet: poll storage every ~0.5 s, push node diffs to every open dashboard WebSocket.

Each page's diff is taken from what that page holds (its snapshot, then each diff it was sent),
so a page whose snapshot was taken before a poll that it did not get (it joined just after) is
sent that poll's changes with the next one, not left showing them stale until the node changes
again.

When nothing changed for BEAT_S the hub still sends a heartbeat ("beat" with central's time), so
the pages can tell an idle fleet (fresh beats) from a frozen central (no messages at all).
"""

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
from central.noc import fleet, timeline
from central.noc.context import Noc
from central.noc.incident_feed import IncidentFeed
from central.noc.presence_log import PresenceLog
from central.noc.security import get_session
from central.storage.statedb import DB_ERRORS

log = logging.getLogger(__name__)

BEAT_S = 2.0  # a heartbeat when no diff was pushed for this long
RETRY_MS = 30_000  # look again for the event that began a state for this long after it began


class Hub:
    """The latest fleet views and the open WebSockets; one polling task per app."""

    def __init__(self, noc: Noc) -> None:
        self.noc = noc
        self.clients: dict[web.WebSocketResponse, str] = {}
        #: per fleet page, the views it holds (its snapshot's, then the last diffed-to ones)
        self.shown: dict[web.WebSocketResponse, dict[str, dict[str, Any]]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.gap_nodes: set[str] = set()
        self.primary: dict[str, str] = {}
        self.sites: dict[str, dict[str, Any]] = {}
        self._slow_at = 0.0
        self._cache: tuple[float, dict[str, dict[str, Any]]] = (0.0, {})
        # node -> (state key, start ms, the beginning event's ts_ms or None)
        self._since: dict[str, tuple[tuple[Any, ...], int | None, int | None]] = {}
        self.last_sent = 0.0
        self._looked_ms: int | None = None  # when the states were last looked at
        self.presence = PresenceLog(noc.store.path)
        self._recorded: dict[str, tuple[str, Any]] = {}  # node -> last (kind, ts) written
        # --- incidents (issue 16): the alert engine's incidents, pushed as "incidents" ---
        self.incidents = IncidentFeed(noc.extra.get("incidents"))
        self.incident_only: set[web.WebSocketResponse] = set()  # /noc/ws?feed=incidents
        # --- end incidents ---

    def close(self) -> None:
        """Close the presence log."""
        self.presence.close()

    def _record_presence(self, v: dict[str, Any]) -> None:
        """Keep central's time of the node going offline / coming online as an event."""
        kind, ts = ("offline", v["offline_at"]) if not v["online"] else ("online", v["since"])
        if ts is None or self._recorded.get(v["node"]) == (kind, ts):
            return
        self._recorded[v["node"]] = (kind, ts)
        try:
            self.presence.record(v["node"], kind, int(ts))
        except DB_ERRORS as exc:
            log.warning("NOC presence log: %s not recorded: %s", v["node"], exc)

    def _state_start(self, v: dict[str, Any], first: bool, now: int
                     ) -> tuple[int | None, int | None]:
        """When the node's current state began and the event that began it (if any)."""
        state = v["state"]
        if state == "offline":
            return v["offline_at"], None
        if state in ("backup", "degraded", "throttled"):
            evs = timeline.recent_events(self.noc.storage, v["node"], now)
            ev = fleet.state_event(state, v, evs)
            if ev is not None:
                return int(ev["ts_ms"]), int(ev["ts_ms"])
        # no event tells: the presence record on first sight; else somewhere after our last
        # look (the poller idles without viewers), and never before the presence record
        if first:
            return v["since"], None
        return max(x for x in (v["since"], self._looked_ms, 0) if x is not None), None

    def _with_since(self, views: dict[str, dict[str, Any]]) -> None:
        now = wall_ms()
        for name, v in views.items():
            self._record_presence(v)
            state = v["state"]
            key: tuple[Any, ...] = (state, v["uplink"] if state == "backup" else None,
                                    (v["thr_down"], v["thr_up"]) if state == "throttled"
                                    else None)
            prev = self._since.get(name)
            retry = prev is not None and prev[0] == key and prev[2] is None and \
                state in ("backup", "degraded", "throttled") and \
                prev[1] is not None and now - prev[1] < RETRY_MS
            if prev is None or prev[0] != key or retry:
                start, ev = self._state_start(v, prev is None, now)
                if retry and ev is None and prev is not None:
                    start = prev[1]
                self._since[name] = (key, start, ev)
            _, v["since"], v["since_ev"] = self._since[name]
        for gone in set(self._since) - set(views):
            self._since.pop(gone, None)
        self._looked_ms = now

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
        self._with_since(views)
        self._cache = (time.monotonic(), views)
        return views

    def current(self) -> dict[str, dict[str, Any]]:
        """Views at most one poll interval old (cached), else fresh; blocking."""
        if self.incidents.store is not None and not self.incidents.polled:
            self.incidents.poll()  # incidents: the incidents tile's first count
        at, views = self._cache
        if views and time.monotonic() - at <= self.noc.settings.poll_s:
            return views
        return self.compute()

    def snapshot(self, views: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Everything the fleet page needs: nodes, tiles, map markers."""
        vs = list(views.values())
        tiles: dict[str, Any] = dict(fleet.tiles(vs))
        # --- incidents: a tile of the alert engine's open incidents (the alerts tile stays the
        # nodes with any problem, a filter) ---
        if self.incidents.store is not None:
            tiles["incidents"] = dict(self.incidents.counts)
        # --- end incidents ---
        return {"nodes": vs, "tiles": tiles, "sites": fleet.map_sites(vs, self.sites),
                "no_coords": fleet.without_coords(vs, self.sites), "now": wall_ms()}

    def join(self, ws: web.WebSocketResponse, sid_sha256: str,
             shown: dict[str, dict[str, Any]] | None = None) -> None:
        """Register a client; a fleet page with the views of the snapshot it was sent."""
        self.clients[ws] = sid_sha256
        if shown is not None:
            self.shown[ws] = shown

    def leave(self, ws: web.WebSocketResponse) -> None:
        """Forget a client."""
        self.clients.pop(ws, None)
        self.shown.pop(ws, None)
        self.incident_only.discard(ws)

    async def tick(self) -> None:
        """One poll: compute, then push each fleet page the diff from what it holds."""
        new = await asyncio.to_thread(self.compute)
        old, self.views = self.views, new
        await self.push_incidents()  # incidents (issue 16)
        pages = [c for c in self.clients if c not in self.incident_only]
        if not pages:
            return
        common = fleet.diff(old, new)
        beat = time.monotonic() - self.last_sent >= BEAT_S
        snap: dict[str, Any] | None = None
        for ws in pages:
            if ws not in self.clients:  # left while an earlier send waited
                continue
            held = self.shown.get(ws, old)
            changed, removed = common if held is old else fleet.diff(held, new)
            self.shown[ws] = new
            msg: dict[str, Any]
            if changed or removed:
                snap = snap or self.snapshot(new)
                msg = {"type": "diff", "changed": changed, "removed": removed,
                       "tiles": snap["tiles"], "sites": snap["sites"], "now": snap["now"]}
            elif beat:
                msg = {"type": "beat", "now": wall_ms()}
            else:
                continue
            try:
                await ws.send_json(msg, dumps=dumps)
            except (ConnectionError, RuntimeError):
                self.leave(ws)
        if common[0] or common[1] or beat:  # every page got something
            self.last_sent = time.monotonic()

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
                self.leave(ws)
    # --- end incidents ---

    async def revalidate(self) -> None:
        """Close sockets whose session ended (logout, expiry, user disabled)."""
        idle = int(self.noc.settings.session_idle_s * 1000)
        for ws, sid_hash in list(self.clients.items()):
            alive = await asyncio.to_thread(self.noc.store.session_alive, sid_hash, idle)
            if not alive:
                self.leave(ws)
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
    hub.close()


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
        hub.join(ws, sess.sid_sha256)
    else:
        # the next tick diffs this page from these views, whatever polls ran in between
        views = await asyncio.to_thread(hub.current)
        await ws.send_json({"type": "snapshot", **hub.snapshot(views)}, dumps=dumps)
        hub.join(ws, sess.sid_sha256, views)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        hub.leave(ws)
    return ws
