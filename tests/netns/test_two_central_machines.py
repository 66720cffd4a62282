"""Two central "machines" (network namespaces) sharing nothing but the broker and PostgreSQL.

Namespace ``db`` runs PostgreSQL and mosquitto; ``m1`` and ``m2`` each run one kotanet-central
from its own directory, reaching them over their own veth link (no shared loopback, no shared
file). One leads; SIGKILL it and the other leads with the next epoch; a SIGSTOPped leader
resumed later stays a follower. The test reads the lease through PostgreSQL's unix socket.
"""

from __future__ import annotations

import getpass
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from central.commands.store import LEASE_NAME, CommandStore
from tests.waiting import wait_for

from .nsutil import Lab, Procs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pg"))
from pg_cluster import PgCluster

pytestmark = [pytest.mark.netns]

TTL_S = 2.0
MQTT_PORT = 1883


class Machines:
    """The lab: db namespace (PostgreSQL, mosquitto), m1/m2 with one central each."""

    def __init__(self, tmp: Path) -> None:
        self.lab = Lab("ktc")
        self.db, self.m = self.lab.add("db"), [self.lab.add("m1"), self.lab.add("m2")]
        for i, m in enumerate(self.m, 1):
            self.lab.link(self.db, f"to-m{i}", f"10.77.{i}.1/24", m, "eth0", f"10.77.{i}.2/24")
        self.pg = PgCluster(netns=self.db.name, listen="10.77.1.1,10.77.2.1")
        self.procs = Procs(tmp, tmp)
        self.tmp = tmp

    def start(self) -> None:
        self.pg.start()
        self.url = self.pg.new_database()  # postgresql://...@10.77.1.1:port/db
        self.local = self.pg.local_url(self.url.rsplit("/", 1)[1])
        conf = self.tmp / "mosquitto.conf"
        conf.write_text(f"listener {MQTT_PORT} 0.0.0.0\nallow_anonymous true\n"
                        f"user {getpass.getuser()}\npersistence false\n")
        self.procs.spawn("mosquitto", self.db, ["mosquitto", "-c", str(conf)])
        self.prefix = f"kt-test/machines{time.monotonic_ns()}"
        for i in (1, 2):
            home = self.tmp / f"m{i}"
            home.mkdir()
            (home / "central.toml").write_text(
                f'instance = "central-m{i}"\ntopic_prefix = "{self.prefix}"\n'
                f"[policy]\nleader_ttl_s = {TTL_S}\ninterval_s = {TTL_S / 4}\n")
            self.spawn(i)

    def spawn(self, i: int) -> None:
        """(Re)start the central of machine m<i>, reaching db over its own link."""
        env = {"KOTANET_DB": self.pg.url(self.url.rsplit("/", 1)[1], host=f"10.77.{i}.1"),
               "KOTANET_MQTT_URL": f"mqtt://10.77.{i}.1:{MQTT_PORT}",
               "KOTANET_HTTP": "127.0.0.1:8080", "KOTANET_ADMIN_TOKEN": "machines-tok"}
        self.procs.spawn(f"central-m{i}", self.m[i - 1], [
            sys.executable, "-m", "central.cli", "--config", str(self.tmp / f"m{i}/central.toml")],
            env=env)

    def close(self) -> None:
        self.procs.stop(["central-m1", "central-m2", "mosquitto"])
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


def test_leader_moves_to_the_other_machine_after_sigkill_and_a_paused_one_stays_out(
        machines: Machines) -> None:
    store = CommandStore(machines.local)
    try:
        def lease() -> tuple[str, int] | None:
            info = store.lease_info(LEASE_NAME)
            if info is None or info["expires_ms"] <= time.time() * 1000 or not info["holder"]:
                return None
            return str(info["holder"]), int(info["epoch"])
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
