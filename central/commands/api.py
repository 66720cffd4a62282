"""HTTP API of commands (POST as operator, GET as viewer) and setup_commands() for the app."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from central.api.auth import AUTH, Route, add_routes, json_error
from central.api.jsonout import json_response
from central.api.state import STORAGE
from central.commands.params import BadCommand, validate
from central.commands.service import CommandService, MqttPublisher
from central.commands.signer import CommandSigner
from central.commands.store import CommandStore, CommandStoreError
from central.config import CentralConfig
from central.storage.location import state_path
from protocol.topics import Topics

log = logging.getLogger(__name__)

NodeSite = Callable[[str], "str | None"]
COMMANDS = web.AppKey("commands", CommandService)
NODE_SITE: web.AppKey[NodeSite] = web.AppKey("node_site")


def storage_node_site(app: web.Application) -> NodeSite:
    """node -> site from central's storage (registry or seen nodes); None if unknown."""
    def lookup(node: str) -> str | None:
        return app[STORAGE].node_site(node)
    return lookup


async def post_command(request: web.Request) -> web.Response:
    """Issue a command to one node: body {kind, params, ttl_s} -> 202 {cmd_id, version}."""
    node = request.match_info["node"]
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return json_error(400, "body must be a JSON object {kind, params, ttl_s}")
    if not isinstance(body, dict):
        return json_error(400, "body must be a JSON object {kind, params, ttl_s}")
    unknown = sorted(set(body) - {"kind", "params", "ttl_s"})
    if unknown:
        return json_error(400, f"unknown field(s) {', '.join(unknown)} "
                               "(allowed: kind, params, ttl_s)")
    try:
        kind, params, ttl_s = validate(body.get("kind"), body.get("params"), body.get("ttl_s"))
    except BadCommand as exc:
        return json_error(400, str(exc))
    site = await asyncio.to_thread(request.app[NODE_SITE], node)
    if site is None:
        return json_error(404, f"unknown node {node!r}")
    who = await asyncio.to_thread(request.app[AUTH].resolve, request.headers.get("Authorization"))
    svc = request.app[COMMANDS]
    try:
        cmd = await asyncio.to_thread(svc.issue, node, site, kind, params, ttl_s,
                                      origin="operator",
                                      issued_by=who.name if who else "")
    except BadCommand as exc:
        return json_error(400, str(exc))
    except CommandStoreError as exc:
        log.error("command for %s not stored: %s", node, exc)
        return json_error(503, "command store unavailable, nothing was sent")
    return json_response({"cmd_id": cmd.cmd_id, "version": cmd.version,
                              "epoch": cmd.epoch, "expires_at_ms": cmd.expires_at_ms},
                             status=202)


async def get_command(request: web.Request) -> web.Response:
    """One command and its ack stages with timestamps."""
    cmd_id = request.match_info["cmd_id"]
    rec: dict[str, Any] | None = await asyncio.to_thread(request.app[COMMANDS].status, cmd_id)
    if rec is None:
        return json_error(404, f"unknown command {cmd_id!r}")
    stages = rec["stages"]
    rec["state"] = stages[-1]["stage"] if stages else "sent"
    return json_response(rec)


ROUTES: list[Route] = [
    ("POST", "/api/v1/nodes/{node}/commands", post_command, "operator"),
    ("GET", "/api/v1/commands/{cmd_id}", get_command, "viewer"),
]


def load_signer(cfg: CentralConfig) -> CommandSigner | None:
    """Central's command signer from ``[commands]`` (None when no key file is configured)."""
    c = cfg.commands
    if not c.signing_key_file:
        return None
    return CommandSigner.from_files(c.signing_key_file, c.next_key_file,
                                    tuple(c.retire_key_ids))


def setup_commands(app: web.Application, cfg: CentralConfig,
                   service: CommandService | None = None,
                   node_site: NodeSite | None = None) -> CommandService:
    """Add the command routes; without ``service`` build one (own DB connection and MQTT
    client) that lives exactly as long as the app. Returns the service for the hooks."""
    owned = service is None
    if service is None:
        store = CommandStore(state_path(cfg))
        service = CommandService(store, MqttPublisher(cfg), Topics(cfg.topic_prefix),
                                 cfg.instance_id(), signer=load_signer(cfg))
    app[COMMANDS] = service
    app[NODE_SITE] = node_site or storage_node_site(app)
    add_routes(app, ROUTES)
    if owned:
        svc = service

        async def lifetime(_app: web.Application) -> AsyncIterator[None]:
            pub = svc.publisher
            assert isinstance(pub, MqttPublisher)
            await asyncio.to_thread(pub.start)
            yield
            svc.stop()
            await asyncio.to_thread(pub.stop)
            await asyncio.to_thread(svc.store.close)
        app.cleanup_ctx.append(lifetime)
    return service
