"""What a wiped node would lose, and the floors central reads for it, on SQLite AND PostgreSQL.

Central stores records idempotently on (node, seq) and guards presence by session. A node
whose SD card was wiped restarts both counters at 1: its first records collide with stored
ones (silently kept out, yet receipted), and its state and birth lose to the stored session.
``Storage.node_floors`` is what enrolment answers so the node continues above both.
"""

from __future__ import annotations

from pg_msgs import birth, presence, state, tele

from central.storage.base import NodeFloors, Storage


def history(store: Storage) -> None:
    """Node n1: records up to seq 40 (an event and a reported drop at the top), sessions 1-7."""
    store.write([birth(1, 10), tele(list(range(1, 21)), t=20, session=1)])
    store.write([birth(7, 30), tele(list(range(21, 30)), t=40, session=7),
                 tele(list(range(30, 35)), events=[{"seq": 35, "ts_ms": 5, "kind": "failover"}],
                      dropped=[[36, 40, "overflow"]], t=50, session=7),
                 state(False, 7, 60)])


def test_a_wiped_node_without_floors_loses_data_and_presence(store: Storage) -> None:
    history(store)
    before = store.totals()["samples"]
    fresh = {"uplinks": [{"name": "wan", "up": True, "active": True, "rtt_ms": 99.0}]}
    store.write([birth(1, 100), state(True, 1, 101),
                 tele([1, 2, 3], t=102, session=1, sample=fresh)])
    # the new samples collide with stored (node, seq) rows: nothing new is stored ...
    assert store.totals()["samples"] == before
    assert [s["rtt_ms"] for s in store.samples("n1", 1000, 4000, 10)] == [None] * 3
    # ... and the new session 1 loses to the stored session 7: the node stays offline
    assert presence(store) == (0, 7, 60)


def test_floors_are_one_above_the_highest_stored_seq_and_seen_session(store: Storage) -> None:
    assert store.node_floors("n1") == NodeFloors(0, 0)  # never seen: no floor
    history(store)
    assert store.node_floors("n1") == NodeFloors(41, 8)  # drop 36-40 counts, session 7
    assert store.node_floors("n2") == NodeFloors(0, 0)
    store.write([tele([50], t=70, session=9)])  # a tele of a session whose state was lost
    assert store.node_floors("n1") == NodeFloors(51, 10)
    store.write([tele([60], node="n2", t=80, session=3)])  # no state/birth yet: the sample's
    assert store.node_floors("n2") == NodeFloors(61, 4)


def test_a_node_continuing_at_its_floors_is_stored_and_online(store: Storage) -> None:
    history(store)
    floors = store.node_floors("n1")
    before = store.totals()["samples"]
    store.write([birth(floors.session_floor, 100), state(True, floors.session_floor, 101),
                 tele([floors.seq_floor, floors.seq_floor + 1], t=102,
                      session=floors.session_floor)])
    assert store.totals()["samples"] == before + 2
    assert presence(store) == (1, floors.session_floor, None)
    assert store.gaps(10_000, 0, "n1") == []  # no hole between the two lives
