"""The behaviour of the storage interface, run on SQLite AND PostgreSQL so they cannot drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pg_msgs import ack, acks, birth, presence, state, tele

from central.config import RegistryNode
from central.storage.base import Storage
from central.storage.postgres import PostgresStorage
from central.storage.sqlite import SqliteStorage


def test_writes_are_idempotent_on_node_and_seq(store: Storage) -> None:
    store.write([tele([1, 2, 3]), tele([2, 3, 4])])
    store.write([tele([1])])
    assert [s["seq"] for s in store.samples("n1", None, None, 100)] == [1, 2, 3, 4]
    assert store.totals()["samples"] == 4


def test_presence_is_guarded_by_session(store: Storage) -> None:
    store.write([birth(5, 10)])
    assert presence(store) == (1, 5, None)
    store.write([state(False, 5, 30)])  # this session ended
    assert presence(store) == (0, 5, 30)
    store.write([birth(5, 40), state(True, 5, 41)])  # stale messages of the ended session
    assert presence(store) == (0, 5, 30)
    store.write([state(True, 6, 50)])
    assert presence(store) == (1, 6, None)
    assert store.list_nodes()[0]["role"] == "office"  # unregistered: role from the birth


def test_late_will_of_an_old_connection_is_ignored(store: Storage) -> None:
    store.write([birth(7, 10)])
    store.write([state(False, 6, 20)])  # the broker delivers the old connection's Will late
    assert presence(store) == (1, 7, None)
    store.write([state(False, 6, 30), birth(6, 31)])  # old session's messages, any order
    assert presence(store) == (1, 7, None)
    assert store.list_nodes()[0]["online_since_ms"] == 10


def test_gaps_after_grace_minus_drops(store: Storage) -> None:
    store.write([tele([1, 2], t=100), tele([10], dropped=[[4, 5, "overflow"]], t=200),
                 tele([20], t=900)])
    found = [(g.from_seq, g.to_seq) for g in store.gaps(now_ms=1000, grace_ms=500)]
    assert found == [(3, 3), (6, 9)]  # 11..19 became visible too recently
    found = [(g.from_seq, g.to_seq) for g in store.gaps(now_ms=2000, grace_ms=500)]
    assert found == [(3, 3), (6, 9), (11, 19)]
    store.write([tele([3, 6, 7, 8, 9], t=2000)])  # the re-send arrives: those gaps close
    assert [(g.from_seq, g.to_seq) for g in store.gaps(5000, 500)] == [(11, 19)]


def test_events_fill_the_shared_seq_space(store: Storage) -> None:
    store.write([tele([1], events=[{"seq": 2, "ts_ms": 5, "kind": "failover"}], t=10),
                 tele([4], t=10, node="n2"), tele([3], t=10)])
    assert store.gaps(10_000, 0) == []  # n1: 1 sample, 2 event, 3 sample; n2 alone
    assert [e["kind"] for e in store.events("n1", None, None, 10)] == ["failover"]


def test_command_acks_stored_once(store: Storage) -> None:
    store.write([ack("c-1", "applied", 10), ack("c-1", "applied", 11),
                 ack("c-1", "accepted", 9)])
    assert acks(store) == [("c-1", "accepted", 4), ("c-1", "applied", 4)]


def test_registry_sync_updates_and_clears_unregistered(store: Storage) -> None:
    store.write([birth(1, 10, node="x1", role="park")])
    assert store.totals()["nodes_unregistered"] == 0  # flag comes from the collector
    store.sync_registry([RegistryNode(node="x1", site="s1", role="office", name="Kantor")])
    store.sync_registry([RegistryNode(node="x1", site="s2", role="office", name="Dinas")])
    row = store.list_nodes()[0]
    assert (row["site"], row["role"], row["name"], row["online"]) == ("s2", "office", "Dinas", 1)


def test_a_nul_character_from_an_agent_does_not_wedge_the_batch(store: Storage) -> None:
    odd = {"seq": 3, "ts_ms": 1, "kind": "odd", "message": "a\x00b", "data": {"k": "\x00"}}
    store.write([tele([1, 2], events=[odd]), ack("c\x00", "applied", 5, detail="x\x00")])
    assert store.totals()["samples"] == 2
    ev = store.events("n1", None, None, 10)[0]
    assert ev["message"].replace("\ufffd", "\x00") == "a\x00b"
    assert ev["data"] == {"k": "\x00"}  # JSON data is kept exactly


def test_tokens(store: Storage) -> None:
    assert store.token_role("ab" * 32) is None
    store.add_token("noc-1", "viewer", "ab" * 32)
    store.add_token("noc-1b", "operator", "ab" * 32)  # the same token re-issued
    assert store.token_role("ab" * 32) == ("noc-1b", "operator")


def _fill(db: Storage) -> None:
    """The same fleet history, written the same way into either backend."""
    db.sync_registry([RegistryNode(node=n, site=s, role="park", name=f"Taman {n}")
                      for n, s in [("a1", "z"), ("a-2", "z"), ("B1", "z"), ("b0", "Y")]])
    sample = {"uplinks": [{"name": "lte", "active": False, "up": True},
                          {"name": "fiber", "active": True, "up": True, "rtt_ms": 12.5,
                           "loss_pct": 0.0}],
              "users": {"total": 7, "authenticated": 3},
              "system": {"cpu_pct": 50, "mem_pct": 12.25, "temp_c": 48.1},
              "shaping": {"version": 3, "down_kbps": 2000, "up_kbps": 500}}
    ev = {"seq": 6, "ts_ms": 5500, "kind": "failover", "severity": "warning",
          "message": "fiber down", "data": {"from": "fiber", "to": "lte", "n": [1, 2.5]}}
    db.write([birth(3, 100, node="a1"), tele([1, 2, 3], node="a1", t=110, session=3,
                                             sample=sample)])
    db.write([tele([5], node="a1", t=200, session=3, events=[ev],
                   dropped=[[8, 9, "overflow"]]),
              tele([12], node="a1", t=300, session=3), birth(1, 120, node="b0"),
              state(False, 1, 400, node="b0"), tele([1], node="ghost", site="q", t=50)])
    db.write([ack("c-9", "applied", 500, node="a1")])


def test_shapes_are_identical_between_backends(tmp_path: Path, pg_url: str) -> None:
    lite, pg = SqliteStorage(tmp_path / "c.db"), PostgresStorage(pg_url)
    try:
        out: list[list[Any]] = []
        for db in (lite, pg):
            _fill(db)
            out.append([db.list_nodes(), db.node_detail("a1", 10_000, 1000),
                        db.node_detail("b0", 10_000, 1000), db.node_detail("nope", 1, 1),
                        db.samples("a1", 2000, None, 2), db.samples("a1", None, 3000, 100),
                        db.events("a1", None, None, 10), db.drops("a1"),
                        [g.as_dict() for g in db.gaps(10_000, 1000)], db.totals()])
        # json.dumps keeps key order and tells 1 from true and 1 from 1.0
        assert json.dumps(out[1], indent=1) == json.dumps(out[0], indent=1)
        nodes = out[0][0]
        assert [n["node"] for n in nodes] == ["b0", "ghost", "B1", "a-2", "a1"]  # bytewise
        assert out[0][1]["last_sample"]["seq"] == 12 and out[0][1]["gaps"]["missing"] == 4  # 4, 7, 10-11
        assert out[0][1]["birth"]["uplinks"][0]["name"] == "fiber"
    finally:
        lite.close()
        pg.close()
