"""Two central "machines" (network namespaces) sharing nothing but the broker and PostgreSQL.

Namespace ``db`` runs PostgreSQL and mosquitto (password file and per-node ACL written by
provisioning.mosquitto, as for a deployment); ``m1`` and ``m2`` each run one kotanet-central
from its own directory (its own config, registry copy and command signing key copy), reaching
db over its own veth link (no shared loopback, no shared file); ``nodes`` runs simulated nodes
(kotanet-sim: the real agent with simulated probes and a fake tc), each logging in as itself
and verifying central's signature on every command. The test reads the database through
PostgreSQL's unix socket, the agents' gate state from their state directories, and talks HTTP
to the centrals (API and NOC) from a thread inside ``db``.
"""

from __future__ import annotations

import getpass
import json
import re
import secrets
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

import psycopg
import pytest

from agent.sim.fleet import build_fleet, generate_credentials, registry, write_private
from central.commands.store import LEASE_NAME, CommandStore
from central.noc.store import create_user
from protocol.signing import b64url
from provisioning.mosquitto import acl_file, generated_hash, mosquitto_conf, password_file
from provisioning.pki import make_command_key, write_secret
from tests.waiting import wait_for

from .nsutil import Lab, Procs, netns_thread

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pg"))
from pg_cluster import PgCluster

pytestmark = [pytest.mark.netns]

TTL_S = 2.0  # [policy] leader_ttl_s: a dead leader's lease runs out within this
MQTT_PORT = 1883
HTTP_PORT = 8080
TOKEN = "machines-tok"
N_NODES = 4
TAKEOVER_LIMIT_S = 5.0  # issue 13: "when the leader dies another takes over within 5 s"
POLL_SLACK_S = 0.1  # the lease is polled every 0.05 s
NOC_PASSWORD = "kata-sandi-panjang-1"
LEASE_S = 600  # throttle lease: no renewal falls due unless the test makes it due


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


def _http(url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
          ) -> tuple[int, bytes, list[str]]:
    """One request, redirects not followed: (status, body, Set-Cookie headers)."""
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with OPENER.open(req, timeout=10) as r:
            return r.status, r.read(), r.headers.get_all("Set-Cookie") or []
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get_all("Set-Cookie") or []


def _cookie(set_cookies: list[str], name: str) -> str:
    for h in set_cookies:
        if h.startswith(name + "="):
            return h.split(";", 1)[0]
    raise AssertionError(f"no {name} cookie in {set_cookies}")


class Machines:
    """The lab: db (PostgreSQL, mosquitto), m1/m2 with one central each, nodes with the sims."""

    def __init__(self, tmp: Path) -> None:
        self.lab = Lab("ktc")
        self.db, self.m = self.lab.add("db"), [self.lab.add("m1"), self.lab.add("m2")]
        for i, m in enumerate(self.m, 1):
            self.lab.link(self.db, f"to-m{i}", f"10.77.{i}.1/24", m, "eth0", f"10.77.{i}.2/24")
        self.nodes_ns = self.lab.add("nodes")
        self.lab.link(self.db, "to-nodes", "10.77.3.1/24", self.nodes_ns, "eth0", "10.77.3.2/24")
        self.pg = PgCluster(netns=self.db.name, listen="10.77.1.1,10.77.2.1")
        self.procs = Procs(tmp, tmp)
        self.tmp = tmp
        self.fleet = build_fleet(N_NODES)
        self.central_pw = secrets.token_urlsafe(18)
        self.client = netns_thread(self.db)  # the operator's HTTP client, on db's side

    def start(self) -> None:
        self.pg.start()
        self.url = self.pg.new_database()  # postgresql://...@10.77.1.1:port/db
        self.local = self.pg.local_url(self.url.rsplit("/", 1)[1])
        self._start_broker()
        key, raw = make_command_key()
        for i in (1, 2):  # each machine its own directory: config, registry and key copies
            home = self.tmp / f"m{i}"
            home.mkdir()
            write_secret(home / "command.key", key)
            (home / "registry.json").write_text(json.dumps(registry(self.fleet)) + "\n")
            (home / "central.toml").write_text(
                f'instance = "central-m{i}"\nregistry_file = "registry.json"\n'
                f"[policy]\nleader_ttl_s = {TTL_S}\ninterval_s = {TTL_S / 4}\n")
            self.spawn(i)
        self.sim_dir = self.tmp / "nodes"
        self.sim_dir.mkdir()
        (self.sim_dir / "command.pub").write_text(b64url(raw) + "\n")

    def _start_broker(self) -> None:
        """mosquitto in db on every address: one password per node, each node its own topics."""
        self.creds = generate_credentials(self.fleet)
        hashes = {node: generated_hash(pw) for node, pw in self.creds.items()}
        hashes["central"] = generated_hash(self.central_pw)
        broker = self.tmp / "broker"
        broker.mkdir()
        write_private(broker / "passwd", password_file(hashes))
        write_private(broker / "acl", acl_file(
            nodes={n.node: (n.site.site, n.node) for n in self.fleet}))
        (broker / "mosquitto.conf").write_text(mosquitto_conf(
            port=MQTT_PORT, password_file=str(broker / "passwd"), acl_file=str(broker / "acl"),
            bind="0.0.0.0", log_file=str(broker / "mosquitto.log"), run_as=getpass.getuser()))
        self.procs.spawn("mosquitto", self.db, ["mosquitto", "-c", str(broker / "mosquitto.conf")])

    def spawn(self, i: int) -> None:
        """(Re)start the central of machine m<i>, reaching db over its own link."""
        home = self.tmp / f"m{i}"
        env = {"KOTANET_DB": self.pg.url(self.url.rsplit("/", 1)[1], host=f"10.77.{i}.1"),
               "KOTANET_MQTT_URL": f"mqtt://central:{self.central_pw}@10.77.{i}.1:{MQTT_PORT}",
               "KOTANET_HTTP": f"10.77.{i}.2:{HTTP_PORT}", "KOTANET_ADMIN_TOKEN": TOKEN,
               "KOTANET_COMMAND_KEY": str(home / "command.key")}
        self.procs.spawn(f"central-m{i}", self.m[i - 1], [
            sys.executable, "-m", "central.cli", "--config", str(home / "central.toml")], env=env)

    def start_sims(self) -> None:
        """The simulated nodes in ``nodes``, logging in to the broker as themselves."""
        creds = self.sim_dir / "nodes.json"
        write_private(creds, json.dumps(self.creds) + "\n")
        self.procs.spawn("sim", self.nodes_ns, [
            sys.executable, "-m", "agent.sim.cli", "--nodes", str(N_NODES),
            "--mqtt-url", f"mqtt://10.77.3.1:{MQTT_PORT}", "--credentials", str(creds),
            "--state-dir", str(self.sim_dir / "state"), "--interval", "1", "--keepalive", "5",
            "--command-pub", str(self.sim_dir / "command.pub")])

    # ------------------------------------------------------------ HTTP from db's side
    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(*args) on the thread inside db (bounded)."""
        return self.client.submit(fn, *args).result(timeout=30)

    def api(self, i: int, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """GET (or POST JSON) an API path of m<i>'s central with the admin token."""
        headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        status, raw, _ = self.call(_http, f"http://10.77.{i}.2:{HTTP_PORT}{path}", data, headers)
        return status, json.loads(raw or b"null")

    def healthy(self, i: int) -> bool:
        try:
            return bool(self.call(_http, f"http://10.77.{i}.2:{HTTP_PORT}/healthz")[0] == 200)
        except OSError:
            return False

    def noc_login(self, i: int, user: str) -> str:
        """Log in through m<i>'s NOC form as a browser does; the session cookie."""
        base = f"http://10.77.{i}.2:{HTTP_PORT}"
        _, html, set_cookies = self.call(_http, f"{base}/noc/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', html.decode())
        assert csrf, "login form without csrf"
        form = urllib.parse.urlencode({"csrf": csrf.group(1), "username": user,
                                       "password": NOC_PASSWORD, "next": "/noc/"}).encode()
        status, _, set_cookies = self.call(_http, f"{base}/noc/login", form,
                                           {"Cookie": _cookie(set_cookies, "kt_precsrf")})
        assert status == 303, f"NOC login on m{i}: HTTP {status}"
        return _cookie(set_cookies, "kt_session")

    def noc_page(self, i: int, cookie: str) -> int:
        """HTTP status of m<i>'s NOC fleet page with this cookie (303: sent to the login)."""
        headers = {"Cookie": cookie} if cookie else {}
        return int(self.call(_http, f"http://10.77.{i}.2:{HTTP_PORT}/noc/", None, headers)[0])

    # ------------------------------------------------------------ what the agents did
    def gate(self, node: str) -> dict[str, Any]:
        """A node's persisted command gate (highest epoch, applied version), or {}."""
        try:
            return dict(json.loads((self.sim_dir / "state" / node / "commands.json").read_text()))
        except (OSError, ValueError):
            return {}

    def close(self) -> None:
        for name, proc in self.procs.procs.items():  # a paused process cannot stop
            if name.startswith("central") and proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
        self.client.shutdown(wait=True)  # its thread holds db's namespace
        self.procs.stop(["sim", "central-m1", "central-m2", "mosquitto"])
        self.pg.stop()
        self.lab.close()


@pytest.fixture
def machines(tmp_path: Path) -> Iterator[Machines]:
    ms = Machines(tmp_path)
    try:
        ms.start()
        yield ms
    finally:
        ms.close()


def _lease(store: CommandStore) -> tuple[str, int] | None:
    """(holder, epoch) of the unexpired leader lease, or None."""
    info = store.lease_info(LEASE_NAME)
    if info is None or info["expires_ms"] <= time.time() * 1000 or not info["holder"]:
        return None
    return str(info["holder"]), int(info["epoch"])


def test_leader_moves_to_the_other_machine_after_sigkill_and_a_paused_one_stays_out(
        machines: Machines) -> None:
    store = CommandStore(machines.local)
    try:
        def lease() -> tuple[str, int] | None:
            return _lease(store)
        first, epoch = wait_for(lease, 60, "a leader on one machine")
        other = "central-m2" if first == "central-m1" else "central-m1"
        procs = machines.procs.procs
        # the follower runs too: its log says it connected to the broker over its link
        wait_for(lambda: f"as instance {other}" in machines.procs.log(other), 30,
                 "the other central connected")

        procs[first].send_signal(signal.SIGKILL)  # the machine dies: no release
        procs[first].wait(timeout=10)
        assert wait_for(lambda: lease() == (other, epoch + 1), TTL_S + 8,
                        "takeover by the other machine")

        procs[other].send_signal(signal.SIGSTOP)  # now the new leader is paused ...
        machines.spawn(int(first[-1]))
        try:  # ... and the restarted first machine takes over with the next epoch
            assert wait_for(lambda: lease() == (first, epoch + 2), TTL_S + 30,
                            "takeover by the restarted machine")
        finally:
            procs[other].send_signal(signal.SIGCONT)
        wait_for(lambda: f"instance {other} lost the leader lease" in machines.procs.log(other),
                 20, "the resumed leader noticing it lost the lease")
        for _ in range(4):  # resumed, it stays a follower (bounded check)
            time.sleep(TTL_S / 2)
            assert lease() == (first, epoch + 2)
    finally:
        store.close()


# ---------------------------------------------------------------- the fleet under two machines
def _throttle(ms: Machines, i: int, down_kbps: int) -> dict[str, dict[str, Any]]:
    """set_throttle to every node through m<i>'s API: {node: {cmd_id, version, epoch, ...}}."""
    out = {}
    for n in ms.fleet:
        status, body = ms.api(i, f"/api/v1/nodes/{n.node}/commands", {
            "kind": "set_throttle", "ttl_s": 30,
            "params": {"down_kbps": down_kbps, "up_kbps": down_kbps // 4, "lease_s": LEASE_S}})
        assert status == 202, f"m{i} refused the throttle for {n.node}: {status} {body}"
        out[n.node] = body
    return out


def _applied(ms: Machines, cmds: dict[str, dict[str, Any]], what: str) -> None:
    """Wait until every agent's gate shows its command applied, at the command's epoch."""
    def done() -> dict[str, dict[str, Any]] | None:
        gates = {node: ms.gate(node) for node in cmds}
        ok = all(g.get("applied_version", 0) >= cmds[node]["version"]
                 and g.get("highest_epoch") == cmds[node]["epoch"] for node, g in gates.items())
        return None if not ok else gates
    wait_for(done, 15, f"every agent applying {what}", step=0.1)


def _pause_in_renewal_round(ms: Machines, conn: psycopg.Connection[Any], addr: str,
                            proc: subprocess.Popen[bytes]) -> None:
    """SIGSTOP the leader at ``addr`` in the middle of a lease renewal round, after its lease
    check and before it sends: its read of the leased throttles waits for this test's lock on
    desired_state, the process is stopped, the rows are made due (sent_ms 0, as if half their
    lease had passed during a long pause) and the lock released. Resumed, it goes on with the
    round it had started: re-sends at its old epoch, each with a new (higher) version."""
    with psycopg.connect(ms.local, autocommit=True) as watch:
        with conn.transaction():
            conn.execute("LOCK TABLE desired_state IN ACCESS EXCLUSIVE MODE")

            def blocked() -> bool:
                row = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE client_addr = %s::inet AND "
                    "wait_event_type = 'Lock' AND query LIKE %s",
                    (addr, "%desired_state%lease_s IS NOT NULL%")).fetchone()
                return bool(row and row[0])
            wait_for(blocked, 10, f"the leader at {addr} reading the leased throttles")
            proc.send_signal(signal.SIGSTOP)
            conn.execute("UPDATE desired_state SET sent_ms = 0 WHERE lease_s IS NOT NULL")


def _stale(conn: psycopg.Connection[Any], below: int, since_ms: int) -> list[dict[str, Any]]:
    """Commands of an epoch below ``below`` issued since ``since_ms``, with their ack stages."""
    rows = conn.execute(
        "SELECT c.cmd_id, c.node, c.epoch, c.version, c.origin, c.issued_by, "
        "coalesce(string_agg(a.stage || '/' || a.code, ',' ORDER BY a.received_ms), '') "
        "FROM commands c LEFT JOIN command_acks a USING (cmd_id) "
        "WHERE c.epoch < %s AND c.issued_at_ms >= %s GROUP BY c.cmd_id ORDER BY c.cmd_id",
        (below, since_ms)).fetchall()
    keys = ("cmd_id", "node", "epoch", "version", "origin", "issued_by", "acks")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def test_fleet_keeps_being_throttled_across_a_killed_and_a_paused_leader(
        machines: Machines) -> None:
    ms, nodes = machines, [n.node for n in machines.fleet]
    store = CommandStore(ms.local)
    conn = psycopg.connect(ms.local, autocommit=True)
    paused: subprocess.Popen[bytes] | None = None
    try:
        create_user(ms.local, "alice", NOC_PASSWORD, "admin")
        lead, epoch = wait_for(lambda: _lease(store), 60, "a leader on one machine")
        x, y = int(lead[-1]), 3 - int(lead[-1])  # x leads first, y takes over
        wait_for(lambda: ms.healthy(x) and ms.healthy(y), 60, "both centrals serving HTTP")
        ms.start_sims()
        wait_for(lambda: {n["node"] for n in ms.api(y, "/api/v1/nodes")[1]["nodes"]
                          if n.get("online")} >= set(nodes), 30, "every node online")

        # 1. the leader throttles the fleet; an operator logs in to its NOC
        cmds_a = _throttle(ms, x, 4000)
        assert {c["epoch"] for c in cmds_a.values()} == {epoch}
        _applied(ms, cmds_a, f"throttle A (epoch {epoch}) from m{x}")
        session = ms.noc_login(x, "alice")

        # 2. m<x> dies: m<y> leads within 5 s, the session is valid there, throttling goes on
        t0 = time.monotonic()
        ms.procs.procs[f"central-m{x}"].send_signal(signal.SIGKILL)  # no lease release
        wait_for(lambda: _lease(store) == (f"central-m{y}", epoch + 1), 15,
                 f"m{y} taking over from the killed m{x}")
        took = time.monotonic() - t0
        print(f"takeover after SIGKILL: {took:.2f} s (leader_ttl_s {TTL_S})", flush=True)
        assert took <= TAKEOVER_LIMIT_S + POLL_SLACK_S, \
            f"new leader {took:.2f} s after the SIGKILL, more than {TAKEOVER_LIMIT_S} s"
        assert ms.noc_page(y, session) == 200, f"the NOC session made on m{x} is refused on m{y}"
        assert ms.noc_page(y, "") == 303  # without it: sent to the login form
        cmds_b = _throttle(ms, y, 3000)
        assert {c["epoch"] for c in cmds_b.values()} == {epoch + 1}
        _applied(ms, cmds_b, f"throttle B (epoch {epoch + 1}) from m{y}")
        def acked() -> bool:  # and m<y> recorded the agents' acks
            return all(ms.api(y, f"/api/v1/commands/{c['cmd_id']}")[1]["state"] == "applied"
                       for c in cmds_b.values())
        wait_for(acked, 10, f"m{y} showing every B applied", step=0.2)

        # 3. m<x> comes back as a follower; m<y> is paused inside a renewal round
        ms.spawn(x)
        wait_for(lambda: ms.healthy(x), 60, f"m{x} restarted")
        assert _lease(store) == (f"central-m{y}", epoch + 1)
        paused = ms.procs.procs[f"central-m{y}"]
        _pause_in_renewal_round(ms, conn, f"10.77.{y}.2", paused)
        stopped_ms, t1 = int(time.time() * 1000), time.monotonic()
        wait_for(lambda: _lease(store) == (f"central-m{x}", epoch + 2), 15,
                 f"m{x} taking over from the paused m{y}")
        print(f"takeover after SIGSTOP: {time.monotonic() - t1:.2f} s", flush=True)
        # the new leader renews the due throttles at its epoch, then the operator sends C
        wait_for(lambda: all(ms.gate(n).get("highest_epoch") == epoch + 2 for n in nodes), 15,
                 f"every agent seeing epoch {epoch + 2}")
        cmds_c = _throttle(ms, x, 2000)
        _applied(ms, cmds_c, f"throttle C (epoch {epoch + 2}) from m{x}")
        assert not _stale(conn, epoch + 2, stopped_ms), "an old-epoch command before the resume"

        # 4. resumed, m<y> finishes the renewal round it was paused in, at epoch+1. Every
        # desired state it read was replaced meanwhile (m<x>'s renewals, then C), so the
        # compare-and-set of its copies (CommandStore.copy_desired) stores none of them and it
        # sends nothing: no old-epoch command reaches an agent (one that did would be refused
        # stale_epoch by the agents that have seen epoch+2; the gates below show all have)
        paused.send_signal(signal.SIGCONT)

        def skipped() -> list[str] | None:  # the round ran: a skip line for every node
            lines = [ln for ln in ms.procs.log(f"central-m{y}").splitlines()
                     if "skipped: a newer command replaced it" in ln]
            return lines if all(any(f"of {n}'s desired state" in ln for ln in lines)
                                for n in nodes) else None
        wait_for(skipped, 20, f"the resumed m{y} finishing its round: every copy skipped")
        wait_for(lambda: f"instance central-m{y} lost the leader lease" in ms.procs.log(
            f"central-m{y}"), 20, f"the resumed m{y} noticing it lost the lease")
        time.sleep(TTL_S)  # a bounded quiet period: late deliveries would show now
        stale = _stale(conn, epoch + 2, stopped_ms)
        assert not stale, f"the resumed old leader stored old-epoch commands: {stale}"
        gates = {n: ms.gate(n) for n in nodes}
        assert {n: (g["highest_epoch"], g["applied_version"]) for n, g in gates.items()} == {
            n: (epoch + 2, cmds_c[n]["version"]) for n in nodes}, "an agent moved past C"

        def shown() -> dict[str, Any] | None:  # what the nodes' samples say is in force
            out = {n["node"]: n.get("throttle") for n in ms.api(x, "/api/v1/nodes")[1]["nodes"]}
            return out if all(out[n] and out[n]["down_kbps"] == 2000 for n in nodes) else None
        wait_for(shown, 10, "every node reporting throttle C in its samples", step=0.2)
        assert _lease(store) == (f"central-m{x}", epoch + 2)
    finally:
        if paused is not None:
            paused.send_signal(signal.SIGCONT)  # a paused process cannot be stopped
        conn.close()
        store.close()
