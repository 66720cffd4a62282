"""Helpers for enrolment tests: central's aiohttp app served over HTTPS from a thread, and the
real `kotanet-agent enroll` run as a process."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from cardhelp import FatCard
from provhelp import GeneratedBroker, Probe

from provisioning.cli import main as provision
from provisioning.deployment import Deployment

AGENT = Path(sys.executable).parent / "kotanet-agent"


class HttpsServer:
    """A real aiohttp server on 127.0.0.1 with the broker's TLS certificate (SAN 127.0.0.1)."""

    def __init__(self, dep: Deployment, port: int) -> None:
        self.app = web.Application()
        self.port = port
        self.url = f"https://127.0.0.1:{port}"
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(dep.broker_dir / "server.crt", dep.broker_dir / "server.key")
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(self.app)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> HttpsServer:
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        fut.result(timeout=10)
        return self

    async def _start(self) -> None:
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port, ssl_context=self.ctx).start()

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@dataclass
class EnrollEnv:
    """What a test gets: the deployment, its running broker and central's URL."""

    dep: Deployment
    broker: GeneratedBroker
    url: str
    root: Path

    def site_of(self, node: str) -> str:
        """The node's site from the manifest."""
        site: str = json.loads(self.dep.manifest_path.read_text())["nodes"][node]["site"]
        return site


def run_enroll(*args: str, lang: str = "en") -> subprocess.CompletedProcess[str]:
    """`kotanet-agent enroll ARGS` with debug logging; stdout and stderr captured."""
    return subprocess.run([str(AGENT), "enroll", "--lang", lang, "--log-level", "debug",
                           "--attempts", "1", "--timeout", "10", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def seed(env: EnrollEnv, node: str, where: Path) -> Path:
    """Write a Bookworm boot partition (a real FAT card image) with `kotanet-provision sdcard`
    (a fresh one-time token), copy it to where/bootfs-copy; return that copy's kotanet/."""
    where.mkdir(parents=True, exist_ok=True)
    with FatCard(where) as boot:
        assert provision(["--lang", "en", "-d", str(env.dep.root), "sdcard", node,
                          "--boot", str(boot), "--no-ssh"]) == 0
        shutil.copytree(boot, where / "bootfs-copy")
    return where / "bootfs-copy" / "kotanet"


def post(env: EnrollEnv, body: dict[str, Any], url: str | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """POST JSON to /enroll/v1 (of env's server or url) over verified TLS; (status, answer)."""
    ctx = ssl.create_default_context(cafile=str(env.dep.pki / "ca.crt"))
    req = urllib.request.Request(f"{url or env.url}/enroll/v1", data=json.dumps(body).encode(),
                                 method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def connack(env: EnrollEnv, user: str, password: str) -> int | None:
    """CONNACK reason code for these credentials at the deployment's broker (0 = accepted)."""
    p = Probe(env.dep, user, password)
    try:
        return p.try_connect()
    finally:
        p.close()


def publish_as(env: EnrollEnv, user: str, password: str, topic: str) -> int:
    """Connect and publish once at QoS 1; the PUBACK reason code (0 = accepted)."""
    p = Probe(env.dep, user, password)
    try:
        assert p.connect() == 0
        return p.publish(topic, b'{"online": true}')
    finally:
        p.close()
