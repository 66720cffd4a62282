"""GET /install/{node}: the open, read-only install check that the node label's QR code opens.

No login: the technician on a ladder scans the label with a phone. It shows only the node id,
presence, last seen, whether the running config hash is the expected one (yes/no, never the
hashes) and which uplinks are up; an unknown or malformed id gets one fixed 404 page, so the
page cannot be used to list the inventory. Requests are rate limited per client address.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

from central.api.auth import Route, add_routes
from central.api.client_addr import client_ip
from central.api.ratelimit import RateLimiter
from central.api.state import CONFIG, STORAGE
from central.clock import wall_ms
from central.noc.i18n import LANG_COOKIE, LANGS, pick_lang
from central.noc.install_view import FIXED_HEADERS, not_found, page_html, rate_limited
from central.noc.templating import setup_templates
from central.storage.base import Storage
from protocol.topics import is_valid_id
from provisioning.brokerfiles import load_manifest
from provisioning.deployment import Deployment

log = logging.getLogger(__name__)

PATH = "/install/{node}"
ENV_DEPLOYMENT = "KOTANET_DEPLOYMENT"
JSON_KEYS = ("node", "online", "last_seen_ms", "config_hash_match", "uplinks_up")
LIVE_WINDOW_MS = 3600_000  # how far back from the newest sample a live one is looked for


@dataclass
class InstallCheck:
    """The install page's deployment (None: hash match not known) and rate limiter."""

    deployment: Deployment | None
    limiter: RateLimiter


INSTALL = web.AppKey("install_check", InstallCheck)


def expected_hash(dep: Deployment | None, node: str) -> tuple[bool, str | None]:
    """(node is in the manifest, its expected config hash); (False, None) without one."""
    if dep is None:
        return False, None
    entry = load_manifest(dep).get("nodes", {}).get(node)
    if not isinstance(entry, dict):
        return False, None
    value = entry.get("config_hash")
    return True, value if isinstance(value, str) and value else None


def live_sample(storage: Storage, node: str, last: dict[str, Any] | None) -> dict[str, Any] | None:
    """The node's newest non-historical sample (searched up to an hour before the newest)."""
    if last is None or not last.get("historical"):
        return last
    since, best = int(last["ts_ms"]) - LIVE_WINDOW_MS, None
    for _ in range(10):  # bounded paging through the window
        rows = storage.samples(node, since, None, 1000)
        for row in rows:
            if not row.get("historical"):
                best = row
        if len(rows) < 1000:
            break
        since = int(rows[-1]["ts_ms"]) + 1
    return best


def uplinks_up(sample: dict[str, Any] | None) -> list[dict[str, Any]]:
    """[{name, up}] of each uplink in a stored sample, in the node's order."""
    ups = ((sample or {}).get("data") or {}).get("uplinks") or []
    return [{"name": str(u.get("name", "")), "up": bool(u.get("up"))}
            for u in ups if isinstance(u, dict)]


def facts(storage: Storage, dep: Deployment | None, node: str, now_ms: int,
          grace_ms: int) -> dict[str, Any] | None:
    """The page's facts of a node (exactly JSON_KEYS); None if neither storage nor manifest
    knows it."""
    detail = storage.node_detail(node, now_ms, grace_ms)
    in_manifest, expected = expected_hash(dep, node)
    if detail is None and not in_manifest:
        return None
    detail = detail or {}
    running = (detail.get("birth") or {}).get("config_hash")
    match = None if expected is None or not running else running == expected
    return {"node": node, "online": bool(detail.get("online")),
            "last_seen_ms": detail.get("last_seen_ms"), "config_hash_match": match,
            "uplinks_up": uplinks_up(live_sample(storage, node, detail.get("last_sample")))}


def _lang(request: web.Request) -> str:
    """?lang=en|id, else the NOC's language cookie, else Indonesian (never Accept-Language:
    the field kit is Indonesian first, whatever the phone is set to)."""
    asked = request.query.get("lang")
    return asked if asked in LANGS else pick_lang(request.cookies.get(LANG_COOKIE), None)


def _respond(request: web.Request, status: int, html: Callable[[], str],
             data: dict[str, Any]) -> web.Response:
    """The answer as JSON (?format=json) or as the rendered page, with FIXED_HEADERS."""
    if request.query.get("format") == "json":
        resp = web.Response(text=json.dumps(data, allow_nan=False, separators=(",", ":")),
                            status=status, content_type="application/json")
    else:
        resp = web.Response(text=html(), status=status, content_type="text/html",
                            charset="utf-8")
    resp.headers.update(FIXED_HEADERS)
    return resp


async def install_page(request: web.Request) -> web.Response:
    """GET /install/{node} (open route, read-only): the install check of one node."""
    check, lang = request.app[INSTALL], _lang(request)
    client = client_ip(request)
    if not check.limiter.allow(client):
        log.warning("install check from %s refused: rate limited", client)
        resp = _respond(request, 429, partial(rate_limited, request, lang),
                        {"error": "rate_limited"})
        resp.headers["Retry-After"] = str(max(1, check.limiter.wait_s(client)))
        return resp
    node = request.match_info["node"]
    found = None
    if is_valid_id(node):
        grace_ms = int(request.app[CONFIG].gap_grace_s * 1000)
        try:
            found = await asyncio.to_thread(facts, request.app[STORAGE], check.deployment,
                                            node, wall_ms(), grace_ms)
        except (OSError, ValueError):
            log.exception("install check of %s failed", node)
            raise web.HTTPInternalServerError(headers=FIXED_HEADERS) from None
    if found is None:
        return _respond(request, 404, partial(not_found, request, lang), {"error": "not_found"})
    return _respond(request, 200, partial(page_html, request, found, lang, wall_ms()), found)


ROUTES: list[Route] = [("GET", PATH, install_page, None)]


def setup_install(app: web.Application, deployment: str | Path | None = None, *,
                  per_minute: float = 30.0, burst: int = 20) -> InstallCheck:
    """Add GET /install/{node}; the deployment directory defaults to KOTANET_DEPLOYMENT
    (without one the config hash match shows as not known)."""
    deployment = deployment or os.environ.get(ENV_DEPLOYMENT)
    check = InstallCheck(Deployment(deployment) if deployment else None,
                         RateLimiter(per_minute, burst))
    app[INSTALL] = check
    setup_templates(app)
    add_routes(app, ROUTES)
    log.info("install check page on %s (deployment %s)", PATH, deployment or "not set")
    return check
