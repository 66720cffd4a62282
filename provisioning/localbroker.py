"""A private Mosquitto on loopback with generated password and ACL files (demo and tests)."""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from provisioning.mosquitto import acl_file, generated_hash, mosquitto_conf, password_file

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """Mosquitto is missing or did not start."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_mosquitto() -> str:
    """Path of the mosquitto binary, or BrokerError with a hint."""
    for cand in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if cand and os.path.exists(cand):
            return cand
    raise BrokerError("mosquitto not found: install it with 'apt-get install mosquitto'")


class LocalBroker:
    """Runs one mosquitto process in a private directory; users can be added and reloaded."""

    def __init__(self, workdir: str | Path, port: int | None = None, persistence: bool = True,
                 superusers: tuple[str, ...] = ("kt-test",),
                 central_users: tuple[str, ...] = ("central",)) -> None:
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.persistence = persistence
        self.superusers = superusers
        self.central_users = central_users
        self._hashes: dict[str, str] = {}
        self._sites: dict[str, str] = {}
        self.passwords: dict[str, str] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "mosquitto.log"

    def add_user(self, user: str, password: str, reload: bool = True,
                 site: str | None = None) -> None:
        """Add or replace a user; reloads a running broker (SIGHUP).

        Every user but the central users and superusers is a node (username = node id) and
        gets only its own topics (:func:`provisioning.mosquitto.node_rules`) under ``site``;
        without a site, under any site (``+``: tests that do not care which site a node is
        at; a deployment's ACL always names the site). With ``reload=False`` the files are
        written by the next ``start()`` or ``reload()`` (adding thousands of users one by one
        would otherwise rewrite the whole ACL each time: quadratic, bench/fleet.py)."""
        self._hashes[user] = generated_hash(password)
        self.passwords[user] = password
        self._sites[user] = site or "+"
        if reload:
            self.reload()

    def remove_user(self, user: str) -> None:
        """Remove a user and reload the running broker."""
        self._hashes.pop(user, None)
        self.passwords.pop(user, None)
        self._sites.pop(user, None)
        self.reload()

    def url(self, user: str) -> str:
        """mqtt:// URL with the credentials of a known user."""
        return f"mqtt://{user}:{self.passwords[user]}@{self.host}:{self.port}"

    def acl(self) -> str:
        """The ACL for the current users (see add_user)."""
        services = (*self.central_users, *self.superusers)
        nodes = {u: (site, u) for u, site in self._sites.items() if u not in services}
        return acl_file(central_users=self.central_users, superusers=self.superusers,
                        nodes=nodes)

    def _write_files(self) -> None:
        (self.dir / "passwd").write_text(password_file(self._hashes))
        os.chmod(self.dir / "passwd", 0o600)
        (self.dir / "acl").write_text(self.acl())
        os.chmod(self.dir / "acl", 0o600)
        persist = str(self.dir / "data") if self.persistence else None
        if persist:
            Path(persist).mkdir(exist_ok=True)
        (self.dir / "mosquitto.conf").write_text(mosquitto_conf(
            port=self.port, password_file=str(self.dir / "passwd"), acl_file=str(self.dir / "acl"),
            persistence_dir=persist, log_file=str(self.log_path),
            run_as=getpass.getuser()))

    def start(self, timeout_s: float = 10.0) -> None:
        """Start mosquitto and wait until it accepts TCP connections."""
        self._write_files()
        binary = find_mosquitto()
        # its own session: a Ctrl-C in the terminal (SIGINT to the foreground process group)
        # must not stop the broker before the fleet and central it serves (stop() does, last)
        self.proc = subprocess.Popen([binary, "-c", str(self.dir / "mosquitto.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise BrokerError(f"mosquitto exited with {self.proc.returncode}: {err.strip()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on {self.host}:{self.port} in {timeout_s}s")

    def reload(self) -> None:
        """Write the password and ACL files; a running broker re-reads them (SIGHUP)."""
        self._write_files()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGHUP)
            time.sleep(0.2)

    def stop(self, kill: bool = False) -> None:
        """Stop mosquitto (SIGTERM, or SIGKILL when kill=True) and wait for it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def restart(self, kill: bool = False) -> None:
        """Stop and start again on the same port (retained state survives via persistence)."""
        self.stop(kill=kill)
        self.start()

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
