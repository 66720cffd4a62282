"""Fleet health: one view row per node, the summary tiles and the sites on the map."""

from __future__ import annotations

from typing import Any

# Worst first: the map colours a site by its worst node; the table sorts by this rank.
STATES: tuple[str, ...] = ("offline", "unknown", "backup", "degraded", "throttled",
                           "unregistered", "ok")
DEGRADED_LOSS_PCT = 5.0
DEGRADED_RTT_MS = 300.0


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


def _r(value: Any, nd: int = 1) -> float | None:
    return None if value is None else round(float(value), nd)


def node_view(row: dict[str, Any], primary: str | None, gap_nodes: set[str]) -> dict[str, Any]:
    """What the fleet page shows of one node (no 'now'-relative fields, so diffs stay small)."""
    online = bool(row.get("online"))
    return {
        "node": row["node"], "site": row["site"], "name": row.get("name") or "",
        "role": row.get("role") or "", "state": node_state(row, primary), "online": online,
        "since": row.get("online_since_ms") if online else row.get("offline_since_ms"),
        "seen": row.get("last_seen_ms"), "uplink": row.get("active_uplink"),
        "primary": primary, "users": row.get("users_total"), "rtt": _r(row.get("rtt_ms")),
        "loss": _r(row.get("loss_pct")), "thr_down": row.get("throttle_down_kbps"),
        "thr_up": row.get("throttle_up_kbps"), "unreg": bool(row.get("unregistered")),
        "gaps": row["node"] in gap_nodes,
    }


def tiles(views: list[dict[str, Any]]) -> dict[str, int]:
    """The summary tiles: online, offline, backup, throttled, users now, alerts."""
    online = [v for v in views if v["online"]]
    offline = len(views) - len(online)
    gaps = sum(1 for v in views if v["gaps"])
    unreg = sum(1 for v in views if v["unreg"])
    return {
        "online": len(online), "offline": offline,
        "backup": sum(1 for v in online if v["state"] == "backup"),
        "throttled": sum(1 for v in online if v["thr_down"] or v["thr_up"]),
        "users": sum(int(v["users"] or 0) for v in online),
        "alerts": gaps + unreg + offline, "gaps": gaps, "unregistered": unreg,
    }


def map_sites(views: list[dict[str, Any]], sites: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One marker per site with coordinates: worst state, node count, users."""
    rank = {s: i for i, s in enumerate(STATES)}
    out: dict[str, dict[str, Any]] = {}
    for v in views:
        meta = sites.get(v["site"])
        if not meta or meta.get("lat") is None or meta.get("lon") is None:
            continue
        m = out.setdefault(v["site"], {"site": v["site"], "name": meta.get("name") or v["site"],
                                       "lat": meta["lat"], "lon": meta["lon"], "state": "ok",
                                       "nodes": [], "users": 0})
        m["nodes"].append(v["node"])
        m["users"] += int(v["users"] or 0) if v["online"] else 0
        if rank[v["state"]] < rank[m["state"]]:
            m["state"] = v["state"]
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
