"""A node whose SD card is wiped and re-seeded continues above what central stored.

End to end with real components: the deployment's generated mosquitto (TLS, password file, ACL),
a real collector writing central's SQLite storage, central's POST /enroll/v1 over HTTPS wired
to that storage (as central.assemble does), the real `kotanet-agent enroll` process and the real
agent runtime (simulated probes) with the delivered agent.toml. Life 1 stores samples under
several sessions; the card is wiped (every file of the node is gone) and re-seeded with a fresh
one-time token; after enrolment the agent's floors lie above central's, and life 2's samples
are all stored (none taken for duplicates of life 1) and the node shows online.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import time
import tomllib
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from enrollhelp import EnrollEnv, HttpsServer, post, run_enroll, seed

from agent.config import AgentConfig, parse_config
from agent.runtime import OUTBOX_FILE, Agent
from agent.transport.session import SESSION_FILE
from agent.transport.statefile import DurableCounter, SeqFloor
from central.collector import Collector
from central.collector.stats import Stats
from central.config import load_config
from central.enroll import Enroller, EnrollError, setup_enroll
from central.storage import Incoming, NodeFloors, StorageError
from central.storage.sqlite import SqliteStorage
from protocol.messages import NodeState, Tele
from provisioning.localbroker import free_port
from tests.waiting import wait_for

pytestmark = pytest.mark.broker
NODE = "trs-01"  # one uplink: no failover


@dataclass
class Central:
    """Central's storage and collector on the deployment's broker, and its enrolment URL."""

    storage: SqliteStorage
    collector: Collector
    url: str

    def node(self, node: str) -> dict[str, Any] | None:
        """The node's row as the API lists it."""
        return next((n for n in self.storage.list_nodes() if n["node"] == node), None)

    def seqs(self, node: str) -> list[int]:
        """Every stored record seq of a node (samples and events share one seq space)."""
        with closing(sqlite3.connect(self.storage.path, timeout=10)) as db:
            rows = db.execute("SELECT seq FROM samples WHERE node = ? UNION ALL "
                              "SELECT seq FROM events WHERE node = ?", (node, node)).fetchall()
        return sorted(int(r[0]) for r in rows)


@pytest.fixture(scope="module")
def central(env: EnrollEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Central]:
    """A real collector + storage, and an enrolment endpoint answering with its floors."""
    db = tmp_path_factory.mktemp("central") / "central.db"
    storage = SqliteStorage(db)
    password = quote(env.dep.service_password("central"), safe="")
    cfg = load_config(None, env={
        "KOTANET_MQTT_URL": f"mqtts://central:{password}@127.0.0.1:{env.broker.port}",
        "KOTANET_MQTT_CA": str(env.dep.pki / "ca.crt"), "KOTANET_DB": f"sqlite:///{db}",
        "KOTANET_HTTP": "127.0.0.1:1"})
    collector = Collector(cfg, storage, Stats())
    server = HttpsServer(env.dep, free_port())
    setup_enroll(server.app, env.dep.root, str(env.broker.pid_file), per_minute=600, burst=1000,
                 floors=storage.node_floors)
    try:
        collector.start()
        wait_for(collector.ready.is_set, 15, "collector subscribed")
        with server:
            yield Central(storage, collector, server.url)
    finally:
        collector.stop()
        storage.close()


class ConstProbe:
    """A deterministic probe: one uplink reading."""

    name = "const"

    def collect(self) -> dict[str, Any]:
        return {"uplinks": [{"name": "fiber", "up": True, "active": True, "rtt_ms": 12.5}],
                "users": {"associated": 3}}


def enrol(env: EnrollEnv, central: Central, card_dir: Path) -> tuple[Path, Path]:
    """Seed a card with a fresh token and run `kotanet-agent enroll`; (etc dir, state dir)."""
    card = seed(env, NODE, card_dir)
    out, state = card_dir / "etc-kotanet", card_dir / "var-lib-kotanet"
    before = env.broker.reloads()
    proc = run_enroll("--token-file", str(card / "enroll.token"), "--out", str(out),
                      "--state-dir", str(state), "--central", central.url,
                      "--ca", str(env.dep.pki / "ca.crt"))
    assert proc.returncode == 0, proc.stderr
    env.broker.wait_reloaded(before)
    return out, state


def agent_config(out: Path, state: Path) -> AgentConfig:
    """The delivered agent.toml with the node's paths under out/state, fast timings, no tc."""
    data = tomllib.loads((out / "agent.toml").read_text())
    data["mqtt"].update(ca_file=str(out / "ca.crt"), password_file=str(out / "mqtt-password"),
                        keepalive_s=5, reconnect_min_s=0.2, reconnect_max_s=1.0)
    data["agent"].update(state_dir=str(state), sample_interval_s=0.05)
    data["outbox"] = {"flush_every": 1, "retry_min_s": 0.3, "retry_max_s": 1.0}
    data["shaping"] = {"enabled": False}
    data["failover"] = {"enabled": False}
    return parse_config(data)


def run_agent(central: Central, out: Path, state: Path, samples: int) -> Agent:
    """Run the agent until central holds `samples` samples of its session; stop it cleanly and
    wait until central has its offline state (everything before it is stored by then)."""
    agent = Agent(agent_config(out, state), [ConstProbe()], simulated=True)
    agent.start()
    try:
        wait_for(lambda: agent.session_id and (n := central.node(NODE)) and n["online"]
                 and n["session"] == agent.session_id, 20, "the node online in its session")
        wait_for(lambda: len([s for s in central.storage.samples(NODE, None, None, 100_000)
                              if s["session"] == agent.session_id]) >= samples, 20,
                 f"{samples} samples of session {agent.session_id} stored")
    finally:
        agent.stop()
    session = agent.session_id
    wait_for(lambda: (n := central.node(NODE)) and not n["online"] and n["session"] == session,
             20, "the clean offline state stored")
    return agent


def test_a_reseeded_node_continues_above_central_and_every_new_sample_is_stored(
        env: EnrollEnv, central: Central, tmp_path: Path) -> None:
    life1 = tmp_path / "card-1"
    out, state = enrol(env, central, life1)
    assert not state.exists()  # central knew nothing of the node: no floors to write
    for _ in range(3):  # three agent starts: sessions 1, 2, 3
        run_agent(central, out, state, samples=8)
    old_seqs = central.seqs(NODE)
    old = central.node(NODE)
    assert old is not None and old["session"] >= 3 and len(old_seqs) >= 24
    top_seq, top_session = old_seqs[-1], int(old["session"])
    assert central.storage.node_floors(NODE) == NodeFloors(top_seq + 1, top_session + 1)

    shutil.rmtree(life1)  # the card is wiped: outbox, seq floor, session counter, credentials
    out, state = enrol(env, central, tmp_path / "card-2")
    assert SeqFloor(state / f"{OUTBOX_FILE}.seqfloor").value == top_seq + 1
    assert DurableCounter(state / SESSION_FILE).value == top_session  # next CONNECT: top + 1

    agent = run_agent(central, out, state, samples=10)
    assert agent.session_id == top_session + 1
    new = [s for s in central.seqs(NODE) if s > top_seq]
    assert central.seqs(NODE) == old_seqs + new  # life 1 untouched, life 2 strictly above it
    assert new[0] == top_seq + 1 and len(new) >= 10
    assert all(s["session"] == top_session + 1
               for s in central.storage.samples(NODE, None, None, 100_000) if s["seq"] > top_seq)
    # every record life 2 wrote is stored, except what was still unreceipted at the stop
    assert agent.outbox is not None
    with closing(sqlite3.connect(state / OUTBOX_FILE)) as db:
        pending = {int(r[0]) for r in db.execute("SELECT seq FROM rec")}
    written = set(range(top_seq + 1, agent.outbox.next_seq))
    assert written - pending <= set(new) <= written
    assert len(written - pending) >= 10

    # and online again as the re-seeded node starts once more
    again = Agent(agent_config(out, state), [ConstProbe()], simulated=True)
    again.start()
    try:
        wait_for(lambda: (n := central.node(NODE)) and n["online"]
                 and n["session"] == top_session + 2 and n["last_seq"] > new[-1], 20,
                 "the node online in its next session with a newer sample")
    finally:
        again.stop()


def history(node: str, site: str, top_seq: int, session: int) -> list[Incoming]:
    """A node's past as central stored it: samples 1..top_seq, then its offline state."""
    now = int(time.time() * 1000)
    tele = Tele.model_validate({"site": site, "node": node, "ts_ms": now, "session": session,
                                "seq": 1, "samples": [{"seq": s, "ts_ms": now}
                                                      for s in range(1, top_seq + 1)]})
    gone = NodeState.model_validate({"site": site, "node": node, "ts_ms": now,
                                     "online": False, "session": session})
    return [Incoming(site, node, tele, now), Incoming(site, node, gone, now)]


def test_a_repeated_exchange_after_a_lost_answer_gets_the_same_floors(
        env: EnrollEnv, central: Central, tmp_path: Path) -> None:
    node = "tks-02"
    central.storage.write(history(node, env.site_of(node), top_seq=30, session=4))
    token = (seed(env, node, tmp_path) / "enroll.token").read_text().strip()
    mine = secrets.token_urlsafe(32)
    status, first = post(env, {"token": token, "secret": mine}, central.url)
    assert status == 200, first
    status, again = post(env, {"token": token, "secret": mine}, central.url)  # answer was lost
    assert status == 200, again
    assert (first["seq_floor"], first["session_floor"]) == (31, 5)
    assert (again["seq_floor"], again["session_floor"]) == (31, 5)


def test_a_storage_failure_refuses_as_internal_and_consumes_nothing(
        env: EnrollEnv, tmp_path: Path) -> None:
    node = "kominfo-01"
    token = (seed(env, node, tmp_path) / "enroll.token").read_text().strip()
    calls: list[str] = []

    def flaky(n: str) -> NodeFloors:
        calls.append(n)
        if len(calls) == 1:
            raise StorageError("database is locked")
        return NodeFloors(7, 2)

    enroller = Enroller(env.dep.root, str(env.broker.pid_file), floors=flaky)
    secret = secrets.token_urlsafe(32)
    with pytest.raises(EnrollError) as err:
        enroller.enroll(token, secret)
    assert err.value.code == "internal"  # the agent retries this (transient)
    answer = enroller.enroll(token, secret)  # nothing was consumed: the retry succeeds
    assert (answer["seq_floor"], answer["session_floor"]) == (7, 2) and calls == [node, node]
    with pytest.raises(EnrollError) as err:
        enroller.enroll(token, secret + "x")  # ... and is then bound to that secret
    assert err.value.code == "already_used"
