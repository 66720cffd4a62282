"""The alerts table and the evaluator service: one active alert per (node, kind), ack, leader."""

from __future__ import annotations

from central.alerts.inputs import InputReader, primary_uplink
from central.alerts.model import AlertConfig, NodeInputs, Opened, Resolved
from central.alerts.service import AlertService
from central.alerts.store import AlertStore

NOW = 1_764_300_000_000


def opened(node: str = "tk-01", kind: str = "offline", severity: str = "critical",
           at: int = NOW) -> Opened:
    """An Opened action as the rules would emit it."""
    return Opened(node, "taman-kota", kind, severity, at, {"offline_since_ms": at - 200_000},
                  f"Node {node} offline", f"Node {node} offline (ID)")


def test_open_is_idempotent_per_node_and_kind(state_db: str) -> None:
    """Opening an already active alert again (e.g. two writers) keeps one row."""
    store = AlertStore(state_db)
    try:
        assert store.apply([opened(), opened(at=NOW + 5000), opened(kind="disk_full")]) == 2
        rows = store.list_alerts("open")
        assert sorted(r["kind"] for r in rows) == ["disk_full", "offline"]
        off = next(r for r in rows if r["kind"] == "offline")
        assert off["opened_ms"] == NOW and off["resolved_ms"] is None
        assert off["evidence"] == {"offline_since_ms": NOW - 200_000}
        assert off["message"] == {"en": "Node tk-01 offline", "id": "Node tk-01 offline (ID)"}
    finally:
        store.close()


def test_ack_then_resolve_then_reopen_is_a_new_alert(state_db: str) -> None:
    """Ack keeps the alert active until its condition clears; a recurrence is a new row."""
    store = AlertStore(state_db)
    try:
        store.apply([opened()])
        (row,) = store.list_alerts("open")
        acked = store.ack(row["id"], "noc-ani", NOW + 1000)
        assert acked is not None
        assert (acked["state"], acked["acked_by"], acked["acked_ms"]) == \
            ("acknowledged", "noc-ani", NOW + 1000)
        assert store.list_alerts("open") == []
        assert [r["id"] for r in store.list_alerts("active")] == [row["id"]]
        assert store.counts() == {("acknowledged", "critical"): 1}
        store.apply([Resolved("tk-01", "offline", NOW + 9000)])
        done = store.get(row["id"])
        assert done is not None and (done["state"], done["resolved_ms"]) == ("resolved", NOW + 9000)
        again = store.ack(row["id"], "noc-budi", NOW + 10_000)
        assert again is not None and again["state"] == "resolved" and again["acked_by"] == "noc-ani"
        store.apply([opened(at=NOW + 20_000)])
        (new,) = store.list_alerts("open")
        assert new["id"] != row["id"] and store.active_keys() == {("tk-01", "offline")}
        assert store.ack(99999, "x", NOW) is None and store.counts() == {("open", "critical"): 1}
    finally:
        store.close()


def test_primary_uplink_is_lowest_priority_number() -> None:
    """The primary uplink comes from the birth: the smallest priority number wins."""
    birth = {"uplinks": [{"name": "lte", "priority": 10}, {"name": "fiber", "priority": 0}]}
    assert primary_uplink(birth) == "fiber"
    assert primary_uplink(None) is None and primary_uplink({"uplinks": []}) is None


class FixedReader(InputReader):
    """An InputReader returning the same offline node every time (no central storage)."""

    def __init__(self) -> None:
        pass

    def read(self, now_ms: int) -> list[NodeInputs]:
        return [NodeInputs("tk-01", "taman-kota", False, now_ms - 300_000, now_ms - 300_000)]


def test_only_the_leader_writes_but_every_instance_reports_counts(state_db: str) -> None:
    """Two centrals on one DB: the follower writes nothing, yet sees the leader's alerts."""
    leader = {"a": True}
    stores = [AlertStore(state_db), AlertStore(state_db)]
    svc_a = AlertService(stores[0], FixedReader(), AlertConfig(),
                         is_leader=lambda: leader["a"], clock_ms=lambda: NOW)
    svc_b = AlertService(stores[1], FixedReader(), AlertConfig(),
                         is_leader=lambda: not leader["a"], clock_ms=lambda: NOW)
    try:
        assert svc_b.tick() == 0 and stores[1].list_alerts() == []
        assert svc_a.tick() == 1
        assert svc_b.tick() == 0 and stores[1].counts() == {("open", "critical"): 1}
        leader["a"] = False  # failover of the leader: b takes over and knows the open alert
        assert svc_a.tick() == 0 and svc_b.tick() == 0
        assert len(stores[0].list_alerts()) == 1
    finally:
        for s in stores:
            s.close()
