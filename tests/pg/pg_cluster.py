"""A private PostgreSQL cluster in a temp dir on a free loopback port, for tests."""

from __future__ import annotations

import glob
import itertools
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

OS_USER = "postgres"  # root may not run postgres; the Debian package creates this user
SUPERUSER = "kotanet"


class PgClusterError(RuntimeError):
    """The test cluster could not be set up."""


def pg_bindir() -> Path:
    """The newest installed PostgreSQL server bin dir (Debian layout), or an error to act on."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise PgClusterError("PostgreSQL server not installed: apt-get install -y postgresql "
                         "(make deps)")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """initdb + pg_ctl as the postgres OS user (when root), password auth on 127.0.0.1 only."""

    def __init__(self, netns: str | None = None, listen: str = "127.0.0.1") -> None:
        """``netns``: run the server in that network namespace, listening on ``listen`` (a
        comma-separated list of its addresses); the test reaches it through its unix socket."""
        self.netns, self.listen = netns, listen
        self.bindir = pg_bindir()
        self.password = secrets.token_urlsafe(16)
        self.port = 0
        self._dbs = itertools.count(1)
        self._as_root = os.geteuid() == 0
        # /tmp, not pytest's tmp dir: the postgres user must be able to reach the data dir.
        self.base = Path(tempfile.mkdtemp(prefix="kotanet-pg-", dir="/tmp"))
        self.data = self.base / "data"
        self.sock = self.base / "sock"
        self.logfile = self.base / "server.log"

    def _cmd(self, *args: str) -> list[str]:
        cmd = ["runuser", "-u", OS_USER, "--", *args] if self._as_root else list(args)
        return ["ip", "netns", "exec", self.netns, *cmd] if self.netns else cmd

    def _run(self, *args: str) -> None:
        proc = subprocess.run(self._cmd(*args), cwd=self.base, capture_output=True, text=True,
                              timeout=120, check=False)
        if proc.returncode != 0:
            tail = proc.stderr.strip()[-2000:] or proc.stdout.strip()[-2000:]
            raise PgClusterError(f"{Path(args[0]).name} failed ({proc.returncode}): {tail}")

    def start(self) -> None:
        """initdb and start the server; raises PgClusterError with the server log on failure."""
        self.sock.mkdir()
        pwfile = self.base / "pw"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self._as_root:
            pw = pwd.getpwnam(OS_USER)
            for p in (self.base, self.sock, pwfile):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        # ICU en-US collation like a production database: the backend must not depend on it.
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                  f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8",
                  "--locale=C.UTF-8", "--locale-provider=icu", "--icu-locale=en-US")
        pwfile.unlink()
        if self.netns:  # clients come from the lab's other namespaces, password auth only
            with (self.data / "pg_hba.conf").open("a") as hba:
                hba.write("host all all 0.0.0.0/0 scram-sha-256\n")
        for attempt in range(3):  # the free port may be taken between probe and bind
            self.port = free_port()
            opts = (f"-c listen_addresses={self.listen} -c port={self.port} "
                    f"-c unix_socket_directories={self.sock} -c fsync=off "
                    "-c full_page_writes=off -c max_connections=60 -c log_min_messages=warning")
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                          str(self.logfile), "-o", opts, "-w", "-t", "30", "start")
                log.info("test PostgreSQL on 127.0.0.1:%d (%s)", self.port, self.base)
                return
            except PgClusterError:
                if attempt == 2:
                    raise PgClusterError(f"server did not start: {self.server_log()}") from None

    def server_log(self) -> str:
        """The last lines of the server log."""
        try:
            return self.logfile.read_text(errors="replace")[-3000:]
        except OSError:
            return "(no server log)"

    def url(self, db: str = "postgres", password: str | None = None,
            host: str | None = None) -> str:
        """A postgresql:// URL as the superuser (host: the first listen address)."""
        pw = self.password if password is None else password
        return f"postgresql://{SUPERUSER}:{pw}@{host or self.listen.split(',')[0]}:{self.port}/{db}"

    def local_url(self, db: str = "postgres") -> str:
        """A URL through the server's unix socket (reachable from any network namespace)."""
        return (f"postgresql://{SUPERUSER}:{self.password}@/{db}?host={self.sock}"
                f"&port={self.port}")

    def new_database(self) -> str:
        """Create an empty database and return its URL."""
        name = f"t{next(self._dbs)}"
        with psycopg.connect(self.local_url(), autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY'.encode())
        return self.url(name)

    def terminate_clients(self, db_url: str) -> int:
        """Kill every session on the database of db_url (a server restart, as clients see it)."""
        db = db_url.rsplit("/", 1)[1]
        with psycopg.connect(self.local_url(), autocommit=True) as c:
            rows = c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = %s AND pid <> pg_backend_pid()", (db,)).fetchall()
        return len(rows)

    def stop(self) -> None:
        """Stop the server and remove every file."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                          "-w", "-t", "30", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
