"""Two central processes with separate state directories sharing only PostgreSQL and mosquitto.

Each runs from its own working directory with no SQLite file given: every table (telemetry and
state) lives in the one PostgreSQL database. Exactly one holds the leader lease; when it is
killed (SIGKILL, no release) the other takes over with the next epoch; a NOC login made through
one instance's login form is valid on the other; ``kotanet-central migrate``/``status`` report
on the shared database.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pg_cluster import PgCluster

from central.commands.store import LEASE_NAME, CommandStore
from central.noc.store import create_user
from provisioning.localbroker import LocalBroker, free_port

pytestmark = [pytest.mark.broker]

CLI = [sys.executable, "-m", "central.cli"]
PASSWORD = "kata-sandi-panjang-1"
TTL_S = 2.0


def wait_for(fn: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """fn's first truthy result, polled for at most timeout_s (bounded loop)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = fn()
        if out:
            return out
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


def _get(url: str, cookie: str = "") -> tuple[int, str, list[str]]:
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with OPENER.open(req, timeout=5) as r:
            return r.status, r.read().decode(), r.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers.get_all("Set-Cookie") or []


def _cookie(headers: list[str], name: str) -> str:
    for h in headers:
        if h.startswith(name + "="):
            return h.split(";", 1)[0]
    raise AssertionError(f"no {name} cookie in {headers}")


def _login(base: str, user: str) -> str:
    """Log in through the NOC form; returns the session cookie ("kt_session=...")."""
    _, html, set_cookies = _get(f"{base}/noc/login")
    pre = _cookie(set_cookies, "kt_precsrf")
    csrf = re.search(r'name="csrf" value="([^"]+)"', html)
    assert csrf, "login form without csrf"
    body = urllib.parse.urlencode({"csrf": csrf.group(1), "username": user,
                                   "password": PASSWORD, "next": "/noc/"}).encode()
    req = urllib.request.Request(f"{base}/noc/login", data=body, headers={"Cookie": pre})
    try:
        with OPENER.open(req, timeout=10) as r:
            status, headers = r.status, r.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as e:
        status, headers = e.code, e.headers.get_all("Set-Cookie") or []
    assert status == 303, status
    return _cookie(headers, "kt_session")


@pytest.fixture
def shared_db(pg_cluster: PgCluster) -> str:
    """A new empty database on the session's PostgreSQL."""
    return pg_cluster.new_database()


@pytest.fixture
def centrals(shared_db: str, broker: LocalBroker,
             tmp_path: Path) -> Iterator[list[tuple[str, subprocess.Popen[bytes], str]]]:
    """Two centrals (name, process, base URL), each in its own directory."""
    prefix = f"kt-test/two{time.monotonic_ns()}"
    out: list[tuple[str, subprocess.Popen[bytes], str]] = []
    try:
        for name in ("central-a", "central-b"):
            home = tmp_path / name
            home.mkdir()
            (home / "central.toml").write_text(
                f'instance = "{name}"\ntopic_prefix = "{prefix}"\n'
                f"[policy]\nleader_ttl_s = {TTL_S}\ninterval_s = {TTL_S / 4}\n")
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("KOTANET_")}
            proc = subprocess.Popen(
                [*CLI, "--config", "central.toml"], cwd=home, stdout=subprocess.DEVNULL,
                stderr=(home / "stderr.log").open("wb"),
                env={**env, "KOTANET_DB": shared_db, "KOTANET_MQTT_URL": broker.url("kt-test"),
                     "KOTANET_HTTP": f"127.0.0.1:{port}", "KOTANET_ADMIN_TOKEN": "two-tok"})
            out.append((name, proc, f"http://127.0.0.1:{port}"))
        for _, proc, base in out:
            def up(proc: subprocess.Popen[bytes] = proc, base: str = base) -> bool:
                assert proc.poll() is None, "central exited at start"
                try:
                    return _get(f"{base}/noc/login")[0] in (200, 303)  # 303: to first-admin setup
                except OSError:
                    return False
            wait_for(up, 60, "central up")
        yield out
    finally:
        for _, proc, _ in out:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_one_leader_takeover_after_sigkill_and_a_noc_session_valid_on_both(
        shared_db: str, centrals: list[tuple[str, subprocess.Popen[bytes], str]],
        tmp_path: Path) -> None:
    create_user(shared_db, "alice", PASSWORD, "admin")
    store = CommandStore(shared_db)
    try:
        def holder() -> str:
            info = store.lease_info(LEASE_NAME)
            return str(info["holder"]) if info and info["expires_ms"] > time.time() * 1000 else ""
        first = wait_for(holder, 30, "a leader")
        epoch = store.current_epoch()
        names = {name: (proc, base) for name, proc, base in centrals}
        assert first in names
        other = next(n for n in names if n != first)
        for _ in range(3):  # while both run, the lease stays with the first (bounded check)
            time.sleep(TTL_S / 2)
            assert holder() == first and store.current_epoch() == epoch

        # a login on the leader's NOC is valid on the other instance
        session = _login(names[first][1], "alice")
        assert _get(f"{names[other][1]}/noc/", session)[0] == 200
        assert _get(f"{names[other][1]}/noc/")[0] == 303  # without it: sent to the login form

        # status from a third directory: the same leader and epoch
        env = {k: v for k, v in os.environ.items() if not k.startswith("KOTANET_")}
        out = subprocess.run([*CLI, "status"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=60, env={**env, "KOTANET_DB": shared_db}, check=False)
        assert out.returncode == 0, out.stderr
        assert f"leader: {first} (epoch {epoch}" in out.stdout
        assert f"command_epoch: {epoch}" in out.stdout

        names[first][0].send_signal(signal.SIGKILL)  # no lease release
        names[first][0].wait(timeout=10)
        assert wait_for(lambda: holder() == other, TTL_S + 8, "takeover") is True
        assert store.current_epoch() == epoch + 1
        assert _get(f"{names[other][1]}/noc/", session)[0] == 200  # the session survives
    finally:
        store.close()


def test_migrate_prints_what_it_applied_once(shared_db: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOTANET_")}
    runs = [subprocess.run([*CLI, "migrate"], cwd=tmp_path, capture_output=True, text=True,
                           timeout=60, env={**env, "KOTANET_DB": shared_db}, check=False)
            for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr
    first = runs[0].stdout.splitlines()
    assert [line for line in first if line.startswith("applied")] == [
        "applied alerts migration 1", "applied commands migration 1",
        "applied incidents migration 1", "applied noc migration 1", "applied noc migration 2",
        "applied noc_presence migration 1", "applied notify migration 1"]
    assert runs[1].stdout.splitlines()[-1] == first[-1]  # nothing new the second time
    assert not any(line.startswith("applied") for line in runs[1].stdout.splitlines())
    assert "kotanet:" not in runs[0].stdout  # no password in the output


def test_a_paused_leader_resumed_later_does_not_lead_again(
        shared_db: str, centrals: list[tuple[str, subprocess.Popen[bytes], str]],
        tmp_path: Path) -> None:
    store = CommandStore(shared_db)
    try:
        def lease() -> tuple[str, int]:
            info = store.lease_info(LEASE_NAME)
            live = info is not None and info["expires_ms"] > time.time() * 1000
            return (str(info["holder"]), int(info["epoch"])) if info and live else ("", 0)
        first, epoch = wait_for(lambda: lease()[0] and lease(), 30, "a leader")
        procs = {name: proc for name, proc, _ in centrals}
        other = next(n for n in procs if n != first)
        procs[first].send_signal(signal.SIGSTOP)  # paused: it neither renews nor releases
        try:
            assert wait_for(lambda: lease() == (other, epoch + 1), TTL_S + 8, "takeover")
        finally:
            procs[first].send_signal(signal.SIGCONT)
        # resumed, the old leader finds its epoch taken: it stays a follower (bounded check)
        log = tmp_path / first / "stderr.log"
        wait_for(lambda: f"instance {first} lost the leader lease" in log.read_text(), 20,
                 "the resumed leader noticing it lost the lease")
        for _ in range(4):
            time.sleep(TTL_S / 2)
            assert lease() == (other, epoch + 1)
        assert store.current_epoch() == epoch + 1
    finally:
        store.close()
