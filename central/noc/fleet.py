"""Fleet health: one view row per node, the summary tiles and the sites on the map."""

from __future__ import annotations

from typing import Any

# Worst first: the map colours a site by its worst node; the table sorts by this rank.
STATES: tuple[str, ...] = ("offline", "unknown", "backup", "degraded", "throttled",
                           "unregistered", "ok")
DEGRADED_LOSS_PCT = 5.0
DEGRADED_RTT_MS = 300.0
#: Every problem a node can have at once (the worst one is its state); tiles count and filter
#: by these, so a degraded node that is also throttled counts in both.
PROBLEMS: tuple[str, ...] = ("offline", "unknown", "backup", "degraded", "throttled",
                             "unregistered", "gaps")


def node_state(row: dict[str, Any], primary: str | None) -> str:
    """The health state of a node row from central's Storage.list_nodes()."""
    if not row.get("online"):
        return "offline"
    if row.get("last_sample_ms") is None:
        return "unknown"
    active = row.get("active_uplink")
    if primary and active and active != primary:
        return "backup"
    if (row.get("loss_pct") or 0) >= DEGRADED_LOSS_PCT or \
            (row.get("rtt_ms") or 0) >= DEGRADED_RTT_MS:
        return "degraded"
    if row.get("throttle_down_kbps") or row.get("throttle_up_kbps"):
        return "throttled"
    if row.get("unregistered"):
        return "unregistered"
    return "ok"


def problems(row: dict[str, Any], primary: str | None, gaps: bool) -> list[str]:
    """Every problem of a node row (PROBLEMS order); [] for a healthy node."""
    out: list[str] = []
    if not row.get("online"):
        out.append("offline")
    elif row.get("last_sample_ms") is None:
        out.append("unknown")
    else:
        active = row.get("active_uplink")
        if primary and active and active != primary:
            out.append("backup")
        if (row.get("loss_pct") or 0) >= DEGRADED_LOSS_PCT or \
                (row.get("rtt_ms") or 0) >= DEGRADED_RTT_MS:
            out.append("degraded")
        if row.get("throttle_down_kbps") or row.get("throttle_up_kbps"):
            out.append("throttled")
    if row.get("unregistered"):
        out.append("unregistered")
    if gaps:
        out.append("gaps")
    return out


def _r(value: Any, nd: int = 1) -> float | None:
    return None if value is None else round(float(value), nd)


def node_view(row: dict[str, Any], primary: str | None, gap_nodes: set[str]) -> dict[str, Any]:
    """What the fleet page shows of one node (no 'now'-relative fields, so diffs stay small).

    ``since`` is when the node's presence changed (online/offline); the hub replaces it by the
    start of the current state (live.Hub.compute) and sets ``since_ev`` when an event began it.
    ``sample`` is the time of the newest sample: an offline node's values are that old.
    """
    online = bool(row.get("online"))
    gaps = row["node"] in gap_nodes
    return {
        "node": row["node"], "site": row["site"], "name": row.get("name") or "",
        "role": row.get("role") or "", "state": node_state(row, primary), "online": online,
        "problems": problems(row, primary, gaps),
        "since": row.get("online_since_ms") if online else row.get("offline_since_ms"),
        "since_ev": None, "offline_at": None if online else row.get("offline_since_ms"),
        "seen": row.get("last_seen_ms"), "sample": row.get("last_sample_ms"),
        "uplink": row.get("active_uplink"),
        "primary": primary, "users": row.get("users_total"), "rtt": _r(row.get("rtt_ms")),
        "loss": _r(row.get("loss_pct")), "thr_down": row.get("throttle_down_kbps"),
        "thr_up": row.get("throttle_up_kbps"), "unreg": bool(row.get("unregistered")),
        "gaps": gaps,
    }


# Events that begin / end each state (newest first wins): the agent's failover controller
# (failover, manual_switch, uplink_down/up, failback), the simulator (uplink_trouble/_recovered)
# and the command handler's "throttle" event (data.kind set_throttle / clear_throttle).
def _begins(state: str, ev: dict[str, Any], v: dict[str, Any]) -> bool | None:
    """True if ev begins the state, False if it ends it, None if unrelated."""
    kind, data = ev.get("kind"), ev.get("data") or {}
    if state == "backup":
        if kind in ("failover", "manual_switch") and data.get("to") == v["uplink"]:
            return True
        if kind in ("uplink_down",) and data.get("uplink", data.get("link")) == v["primary"]:
            return True
        if kind == "uplink_trouble" and data.get("trouble") == "outage" and \
                data.get("uplink") in (None, v["primary"]):
            return True
        if kind == "failback" or (kind in ("uplink_recovered", "uplink_up") and
                                  data.get("uplink") in (None, v["primary"])):
            return False
    if state == "degraded":
        if kind == "uplink_trouble" and data.get("trouble") in ("loss", "rtt_spike"):
            return True
        if kind == "uplink_recovered":
            return False
    if state == "throttled" and kind == "throttle":
        return data.get("kind") == "set_throttle"
    return None


def state_event(state: str, v: dict[str, Any], events: list[dict[str, Any]]
                ) -> dict[str, Any] | None:
    """The event that began the node's current state (events oldest first), or None."""
    for ev in reversed(events):
        began = _begins(state, ev, v)
        if began is True:
            return ev
        if began is False:
            return None
    return None


def tiles(views: list[dict[str, Any]]) -> dict[str, int]:
    """The summary tiles: online, every problem state, users now, nodes with any problem."""
    online = [v for v in views if v["online"]]
    out = {p: sum(1 for v in views if p in v["problems"]) for p in PROBLEMS}
    return {
        **out, "online": len(online),
        "users": sum(int(v["users"] or 0) for v in online),
        "alerts": sum(1 for v in views if v["problems"]), "unregistered": out["unregistered"],
    }


def map_sites(views: list[dict[str, Any]], sites: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One marker per site with coordinates: worst state and node (a click opens it), users."""
    rank = {s: i for i, s in enumerate(STATES)}
    out: dict[str, dict[str, Any]] = {}
    for v in sorted(views, key=lambda v: v["node"]):
        meta = sites.get(v["site"])
        if not meta or meta.get("lat") is None or meta.get("lon") is None:
            continue
        m = out.setdefault(v["site"], {"site": v["site"], "name": meta.get("name") or v["site"],
                                       "lat": meta["lat"], "lon": meta["lon"], "state": "ok",
                                       "nodes": [], "users": 0, "worst": v["node"]})
        m["nodes"].append(v["node"])
        m["users"] += int(v["users"] or 0) if v["online"] else 0
        if rank[v["state"]] < rank[m["state"]]:
            m["state"], m["worst"] = v["state"], v["node"]
    return list(out.values())


def without_coords(views: list[dict[str, Any]], sites: dict[str, dict[str, Any]]) -> int:
    """How many sites in the fleet have no coordinates."""
    seen = {v["site"] for v in views}
    return sum(1 for s in seen if s not in sites or sites[s].get("lat") is None)


def diff(old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]
         ) -> tuple[list[dict[str, Any]], list[str]]:
    """Changed or new node views, and removed node ids."""
    changed = [v for k, v in new.items() if old.get(k) != v]
    removed = [k for k in old if k not in new]
    return changed, removed
