"""POST /enroll/v1 (alias /api/v1/enroll): an open route, the signed token is the credential;
requests are rate limited per client address. The decision is central.enroll.service's."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from pathlib import Path

from aiohttp import web

from central.api.auth import Route, add_routes
from central.api.client_addr import client_ip
from central.api.jsonout import json_response
from central.api.ratelimit import RateLimiter
from central.enroll.apt import setup_apt
from central.enroll.service import ERRORS, Enroller, EnrollError, FloorsFn

log = logging.getLogger(__name__)

PATHS = ("/enroll/v1", "/api/v1/enroll")
ENV_DEPLOYMENT = "KOTANET_DEPLOYMENT"
ENV_PID_FILE = "KOTANET_BROKER_PID_FILE"
MAX_BODY = 8192
SECRET_RE = re.compile(r"[A-Za-z0-9_-]{32,128}")


def error_response(code: str) -> web.Response:
    """The JSON error answer for a code."""
    status, en, id_ = ERRORS[code]
    return json_response({"error": code, "message": en, "message_id": id_}, status=status)


ENROLLER = web.AppKey("enroller", Enroller)
LIMITER = web.AppKey("enroll_limiter", RateLimiter)


async def _parse(request: web.Request) -> tuple[str, str]:
    if (request.content_length or 0) > MAX_BODY:
        raise EnrollError("bad_request")
    try:
        raw = await request.read()  # bounded by the app's client_max_size
    except web.HTTPRequestEntityTooLarge:
        raise EnrollError("bad_request") from None
    try:
        body = json.loads(raw) if len(raw) <= MAX_BODY else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise EnrollError("bad_request")
    token, secret = body.get("token"), body.get("secret")
    if not isinstance(token, str) or not token.strip():
        raise EnrollError("malformed")
    if not isinstance(secret, str) or not SECRET_RE.fullmatch(secret):
        raise EnrollError("bad_request")
    return token.strip(), secret


async def enroll_handler(request: web.Request) -> web.Response:
    """POST /enroll/v1 (open route: the token is the credential)."""
    client = client_ip(request)
    if not request.app[LIMITER].allow(client):
        log.warning("enrolment from %s refused: rate limited", client)
        return error_response("rate_limited")
    enroller = request.app.get(ENROLLER)
    if enroller is None:
        return error_response("not_configured")
    try:
        token, secret = await _parse(request)
        answer = await asyncio.to_thread(enroller.enroll, token, secret)
    except EnrollError as exc:
        log.warning("enrolment of node %s from %s refused: %s", exc.node or "?", client, exc.code)
        return error_response(exc.code)
    except Exception:
        log.exception("enrolment from %s failed", client)
        return error_response("internal")
    return json_response(answer, headers={"Cache-Control": "no-store"})


ROUTES: list[Route] = [("POST", path, enroll_handler, None) for path in PATHS]


def setup_enroll(app: web.Application, deployment: str | Path | None = None,
                 pid_file: str | None = None, *, per_minute: float = 6.0,
                 burst: int = 10, floors: FloorsFn | None = None) -> Enroller | None:
    """Add POST /enroll/v1 (and /api/v1/enroll); deployment/pid file default to the env vars
    KOTANET_DEPLOYMENT and KOTANET_BROKER_PID_FILE. Without a deployment it answers 503.
    Also serves the deployment's apt repository under /apt/ (central.enroll.apt).
    ``floors`` (usually ``storage.node_floors``) puts seq_floor/session_floor in the answer."""
    deployment = deployment or os.environ.get(ENV_DEPLOYMENT)
    pid_file = pid_file or os.environ.get(ENV_PID_FILE)
    app[LIMITER] = RateLimiter(per_minute, burst)
    enroller = None
    if deployment:
        enroller = Enroller(deployment, pid_file, floors=floors)
        app[ENROLLER] = enroller
        log.info("enrolment enabled for deployment %s", deployment)
    else:
        log.info("enrolment disabled: no deployment directory (%s)", ENV_DEPLOYMENT)
    add_routes(app, ROUTES)
    setup_apt(app, deployment)
    return enroller
