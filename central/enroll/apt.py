"""GET /apt/{file}: the deployment's flat apt repository (``DIR/apt``, written by
``kotanet-provision repo``), read-only and without login, for nodes upgrading kotanet-agent.

Only the index files and ``*.deb`` names (provisioning.aptrepo.FILE_RE) are served, straight
from that one directory (no sub-paths, no listing); nothing in it is secret. Nodes fetch it
over HTTPS pinned to the deployment CA (the sources entry written by the card's first boot).
"""

from __future__ import annotations

import logging
from pathlib import Path

from aiohttp import web

from central.api.auth import Route, add_routes
from provisioning.aptrepo import FILE_RE, REPO_DIR

log = logging.getLogger(__name__)

PREFIX = "/apt/"
REPO = web.AppKey("apt_repo", Path)
TYPES = {".deb": "application/vnd.debian.binary-package", ".gz": "application/gzip"}


async def apt_file(request: web.Request) -> web.StreamResponse:
    """One repository file, or 404 (unknown name, no repository)."""
    name = request.match_info["name"].removeprefix("./")  # apt asks for ./Release in a flat repo
    repo = request.app.get(REPO)
    if repo is None or not FILE_RE.fullmatch(name):
        raise web.HTTPNotFound(text="not found\n")
    path = repo / name
    if not path.is_file():
        raise web.HTTPNotFound(text="not found\n")
    ctype = TYPES.get(path.suffix, "text/plain; charset=utf-8")
    # the index changes when the NOC adds a package: caches must ask again
    cache = "no-cache" if name in ("Packages", "Packages.gz", "Release") else "max-age=3600"
    return web.FileResponse(path, headers={"Content-Type": ctype, "Cache-Control": cache})


ROUTES: list[Route] = [("GET", PREFIX + "{name:.+}", apt_file, None)]


def setup_apt(app: web.Application, deployment: str | Path | None) -> None:
    """Serve DEPLOYMENT/apt under /apt/ (404 for everything without a deployment)."""
    if deployment:
        app[REPO] = Path(deployment) / REPO_DIR
        log.info("apt repository served from %s", app[REPO])
    add_routes(app, ROUTES)
