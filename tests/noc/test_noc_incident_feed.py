"""The live hub's incident feed on a real incident store: what changed, once, and the counts."""

from __future__ import annotations

from pathlib import Path

from central.alerts.incident_store import IncidentStore
from central.alerts.incidents import ActiveAlert, IncidentConfig, SiteInfo
from central.noc.incident_feed import IncidentFeed, counts

SITES = {"taman": SiteInfo(None, "", "park"), "kantor": SiteInfo(None, "", "office")}
CFG = IncidentConfig(settle_s=0, resolve_hold_s=0)


def test_feed_reports_each_change_once_with_titles_timeline_and_counts(tmp_path: Path) -> None:
    store = IncidentStore(tmp_path / "state.db")
    try:
        feed = IncidentFeed(store)
        assert feed.poll() == [] and feed.counts == counts([])
        t = 1_800_000_000_000
        store.add_window("kantor", None, t - 1, t + 3_600_000, "genset", "op", t)
        alerts = [ActiveAlert(1, "tk-01", "taman", "offline", "critical", t),
                  ActiveAlert(2, "ktr-01", "kantor", "temperature", "critical", t)]
        store.round(alerts, SITES, t, CFG)
        changed = {c["node"]: c for c in feed.poll()}
        assert set(changed) == {"tk-01", "ktr-01"}
        park = changed["tk-01"]
        assert park["state"] == "open"
        assert park["titles"] == {"id": "Node tk-01 di taman offline",
                                  "en": "Node tk-01 at taman is offline"}
        assert [e["kind"] for e in park["timeline"]][0] == "opened"
        assert changed["ktr-01"]["state"] == "maintenance"
        assert feed.counts == {"open": 1, "acknowledged": 0, "maintenance": 1, "active": 1}
        assert feed.poll() == []  # nothing new: nothing to push
        store.ack(park["id"], "noc:operator", "berangkat", t + 1000)
        again = feed.poll()
        assert [(c["id"], c["state"], c["ack_note"]) for c in again] == [
            (park["id"], "acknowledged", "berangkat")]
        assert again[0]["timeline"][-1]["kind"] == "acknowledged"
        assert feed.counts["active"] == 1 and feed.counts["acknowledged"] == 1
        store.round(alerts[1:], SITES, t + 2000, CFG)  # tk-01 came back: resolves (hold 0)
        done = feed.poll()
        assert [(c["node"], c["state"]) for c in done] == [("tk-01", "resolved")]
        assert [c["id"] for c in feed.everything()] == sorted(
            (c["id"] for c in changed.values()), reverse=True)
    finally:
        store.close()


def test_feed_without_the_alert_engine_is_empty() -> None:
    feed = IncidentFeed(None)
    assert feed.poll() == [] and feed.everything() == []
    assert feed.message([], 5) == {"type": "incidents", "counts": counts([]), "changed": [],
                                   "now": 5}
