"""A whole kotanet stack on loopback (demo, e2e tests, benchmarks): broker, central, sim fleet.

Every child runs in its own process group with its output in a log file; ``Stack.close``
stops them all (SIGTERM, bounded wait, then SIGKILL) and the broker last.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from agent.sim.fleet import build_fleet, generate_credentials, registry, write_private
from central.storage.location import POSTGRESQL, scheme, sqlite_file
from protocol.signing import b64url
from provisioning.localbroker import LocalBroker, free_port
from provisioning.pki import make_command_key, write_secret

log = logging.getLogger(__name__)
T = TypeVar("T")
BIN = Path(sys.executable).parent


class Proc:
    """One child process in its own session/process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name, self.argv, self.log_path = name, argv, log_path
        self.env = {**os.environ, **(env or {})}
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        """Start the process (output appended to log_path)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.popen = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                          env=self.env, start_new_session=True)
        log.info("started %s (pid %d)", self.name, self.popen.pid)
        return self

    @property
    def pid(self) -> int:
        """Process id (the process group id too)."""
        assert self.popen is not None, f"{self.name} not started"
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process runs."""
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group and reap it."""
        self._signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(timeout=10)

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM the group, wait up to timeout_s, then SIGKILL; returns the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0fs: SIGKILL", self.name, timeout_s)
                self.kill()
        self._signal(signal.SIGKILL)  # stragglers left in the group
        return self.popen.returncode

    def _signal(self, sig: int) -> None:
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def tail(self, lines: int = 30) -> str:
        """The last lines of the log (for error messages)."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_until(pred: Callable[[], T | None], timeout_s: float, what: str,
               step_s: float = 0.1) -> T:
    """Poll pred until it returns something truthy; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (OSError, ValueError, urllib.error.URLError):
            last = None
        if last:
            return last
        time.sleep(step_s)
    raise TimeoutError(f"timed out after {timeout_s:.1f}s waiting for {what} (last: {last!r})")


class Stack:
    """Broker + central instance(s) + simulated nodes under one work dir.

    Central's database (telemetry and state tables alike): ``db_url`` (a ``postgresql://``
    URL, or a ``sqlite:///`` one), by default the SQLite file ``<workdir>/central.db``.
    """

    def __init__(self, workdir: str | Path, nodes: int = 20, *, interval_s: float = 5.0,
                 keepalive_s: int = 10, broker_port: int | None = None,
                 db_url: str | None = None) -> None:
        self.dir = Path(workdir).resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fleet = build_fleet(nodes)
        self.interval_s, self.keepalive_s = interval_s, keepalive_s
        self.broker = LocalBroker(self.dir / "broker", port=broker_port, superusers=())
        self.admin_token = secrets.token_urlsafe(24)
        self.db_path = self.dir / "central.db"  # the default database (no db_url)
        self._db_url = db_url
        self.creds_path = self.dir / "nodes.json"
        self.registry_path = self.dir / "registry.json"
        self.command_key = self.dir / "command.key"
        self.command_pub = self.dir / "command.pub"
        self.procs: list[Proc] = []
        self.http: dict[str, str] = {}

    @property
    def db_url(self) -> str:
        """Central's database URL: db_url, else the SQLite file db_path."""
        return self._db_url or f"sqlite:///{self.db_path}"

    @property
    def state_target(self) -> str:
        """Where central's state tables (NOC users, commands, ...) live, as
        central.storage.statedb.open_state takes it: a SQLite file path or the PostgreSQL URL."""
        url = self.db_url
        return url if scheme(url) == POSTGRESQL else sqlite_file(url)

    # ------------------------------------------------------------ set-up
    def start_broker(self) -> None:
        """Generate passwords (central + every node), write the registry, start mosquitto."""
        creds = generate_credentials(self.fleet)
        write_private(self.creds_path, json.dumps(creds, indent=1) + "\n")
        self.registry_path.write_text(json.dumps(registry(self.fleet), indent=1) + "\n")
        self.broker.add_user("central", secrets.token_urlsafe(18), reload=False)
        if not self.command_key.is_file():  # central signs commands, the fleet verifies
            key, raw = make_command_key()
            write_secret(self.command_key, key)
            self.command_pub.write_text(b64url(raw) + "\n")
        sites = {n.node: n.site.site for n in self.fleet}
        for node, pw in creds.items():  # each node: its own topics at its own site only
            self.broker.add_user(node, pw, reload=False, site=sites[node])
        self.broker.start()

    def central_env(self, http: str) -> dict[str, str]:
        """KOTANET_* environment of a central process; its state tables follow KOTANET_DB
        (an empty KOTANET_STATE_DB hides one inherited from the caller's environment)."""
        return {"KOTANET_MQTT_URL": self.broker.url("central"),
                "KOTANET_DB": self.db_url, "KOTANET_STATE_DB": "", "KOTANET_HTTP": http,
                "KOTANET_ADMIN_TOKEN": self.admin_token,
                "KOTANET_COMMAND_KEY": str(self.command_key)}

    def start_central(self, instance: str = "central-1", http: str | None = None,
                      extra_toml: str = "", top_toml: str = "") -> Proc:
        """Start (or restart) one kotanet-central instance; waits until /healthz answers.

        ``top_toml`` goes at the top level of its config file, ``extra_toml`` into [mqtt].
        """
        http = http or self.http.get(instance) or f"127.0.0.1:{free_port()}"
        self.http[instance] = http
        conf = self.dir / f"{instance}.toml"
        conf.write_text(f'instance = "{instance}"\nregistry_file = "{self.registry_path}"\n'
                        f"{top_toml}\n[mqtt]\nkeepalive_s = 5\n{extra_toml}")
        proc = Proc(instance, [str(BIN / "kotanet-central"), "--config", str(conf)],
                    self.dir / "logs" / f"{instance}.log", self.central_env(http)).start()
        self.procs.append(proc)
        try:
            wait_until(lambda: _dead(proc) or self._healthy(http), 30, f"{instance} /healthz")
        except TimeoutError:
            raise RuntimeError(f"{instance} did not become healthy:\n{proc.tail()}") from None
        if not proc.alive():
            raise RuntimeError(f"{instance} exited with {proc.popen and proc.popen.returncode}:\n"
                               f"{proc.tail()}")
        return proc

    def start_sim(self, name: str = "sim", only: list[str] | None = None,
                  extra: list[str] | None = None) -> Proc:
        """Start a kotanet-sim process for the whole fleet or only some of its nodes."""
        argv = [str(BIN / "kotanet-sim"), "--nodes", str(len(self.fleet)),
                "--mqtt-url", f"mqtt://{self.broker.host}:{self.broker.port}",
                "--credentials", str(self.creds_path), "--state-dir", str(self.dir / "nodes"),
                "--interval", str(self.interval_s), "--keepalive", str(self.keepalive_s),
                "--command-pub", str(self.command_pub),
                *(["--only", ",".join(only)] if only else []), *(extra or [])]
        proc = Proc(name, argv, self.dir / "logs" / f"{name}.log").start()
        self.procs.append(proc)
        return proc

    # ------------------------------------------------------------ the API
    def api(self, path: str, instance: str | None = None, timeout_s: float = 5.0) -> Any:
        """GET a JSON API path with the admin token from one central instance."""
        http = self.http[instance or next(iter(self.http))]
        req = urllib.request.Request(f"http://{http}{path}",
                                     headers={"Authorization": f"Bearer {self.admin_token}"})
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read())

    def api_post(self, path: str, body: dict[str, Any], instance: str | None = None,
                 timeout_s: float = 5.0) -> tuple[int, Any]:
        """POST JSON with the admin token; (HTTP status, decoded JSON body)."""
        http = self.http[instance or next(iter(self.http))]
        req = urllib.request.Request(f"http://{http}{path}", data=json.dumps(body).encode(),
                                     method="POST",
                                     headers={"Authorization": f"Bearer {self.admin_token}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def nodes(self, instance: str | None = None) -> list[dict[str, Any]]:
        """GET /api/v1/nodes as a list of node dicts."""
        data = self.api("/api/v1/nodes", instance)
        return list(data["nodes"] if isinstance(data, dict) else data)

    def online(self, instance: str | None = None) -> set[str]:
        """Ids of nodes the API shows online."""
        return {n["node"] for n in self.nodes(instance) if n.get("online")}

    @staticmethod
    def _healthy(http: str) -> bool:
        with urllib.request.urlopen(f"http://{http}/healthz", timeout=2) as resp:
            return bool(resp.status == 200)

    # ------------------------------------------------------------ tear-down
    def close(self) -> None:
        """Stop every child (fleet first, then central), then the broker."""
        for proc in sorted(self.procs, key=lambda p: not p.name.startswith("sim")):
            proc.stop()
        self.broker.stop()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _dead(proc: Proc) -> bool:
    return not proc.alive()
