"""A node's story in words: its events with who acted, the start of its problems, the cause line.

Times come from the events that began a state (node clock) or from central's presence record
(offline); rates are shown in Mbit/s (the protocol carries kbit/s). Who acted: a command's
origin in central's commands table (operator name or policy), the node itself otherwise,
central for presence it recorded.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from central.noc import fleet
from central.noc.i18n import t, wib
from central.storage import Storage

if TYPE_CHECKING:
    from central.noc.store import NocStore

WINDOW_MS = 7 * 86400_000
MAX_EVENTS = 5000
SHOWN_EVENTS = 200


def _data(ev: dict[str, Any]) -> dict[str, Any]:
    raw = ev.get("data")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    return raw if isinstance(raw, dict) else {}


def recent_events(storage: Storage, node: str, now_ms: int) -> list[dict[str, Any]]:
    """The node's events of the last 7 days, oldest first, data as a dict."""
    evs = storage.events(node, now_ms - WINDOW_MS, None, MAX_EVENTS)
    return [{**ev, "data": _data(ev)} for ev in evs]


def commands(store: NocStore, node: str) -> dict[int, dict[str, Any]]:
    """The node's commands by version from central's commands table ({} if it has none)."""
    out: dict[int, dict[str, Any]] = {}
    for r in store.node_commands(node):
        out.setdefault(int(r["version"]), {**r, "params": _data(dict(r, data=r["params"]))})
    return out


def mbps(kbps: Any, lang: str) -> str:
    """kbit/s as Mbit/s text in the language's number format, e.g. '2,5 Mbit/s'."""
    if kbps is None:
        return "—"
    text = f"{float(kbps) / 1000:.3f}".rstrip("0").rstrip(".")
    return (text.replace(".", ",") if lang == "id" else text) + " Mbit/s"


def actor(lang: str, ev: dict[str, Any], cmds: dict[int, dict[str, Any]]) -> str:
    """Who acted: the operator (by name) or central's policy for commands, else the node."""
    data = ev.get("data") or {}
    if ev.get("kind") in ("offline", "online"):
        return t(lang, "actor.central")
    cmd = None
    if ev.get("kind") == "throttle" and isinstance(data.get("version"), int):
        cmd = cmds.get(data["version"])
    elif data.get("reason") == "manual" or ev.get("kind") == "manual_switch" or \
            data.get("cmd_id"):
        cmd = next((c for c in cmds.values() if c["cmd_id"] == data.get("cmd_id")), None)
        if cmd is None:
            return t(lang, "actor.operator_any")
    if cmd is None:
        return t(lang, "actor.node")
    if cmd["origin"] == "operator":
        name = str(cmd["issued_by"] or "?")
        return t(lang, "actor.operator", name=name.removeprefix("noc:"))
    key = f"actor.origin.{cmd['origin']}"
    return t(lang, key) if t(lang, key) != key else t(lang, "actor.central")


def lease_end(ev: dict[str, Any]) -> int | None:
    """When a set_throttle event's lease ends (ts + lease_s), or None without a lease."""
    params = (ev.get("data") or {}).get("params") or {}
    lease = params.get("lease_s")
    return int(ev["ts_ms"] + float(lease) * 1000) if isinstance(lease, int | float) else None


def describe(lang: str, ev: dict[str, Any]) -> str:
    """One event in words (known kinds translated; others keep the node's message)."""
    kind, data = ev.get("kind"), ev.get("data") or {}
    if kind == "throttle":
        params = data.get("params") or {}
        if data.get("kind") == "clear_throttle":
            return t(lang, "ev.throttle_cleared")
        until = lease_end(ev)
        text = t(lang, "ev.throttle_set", down=mbps(params.get("down_kbps"), lang),
                 up=mbps(params.get("up_kbps"), lang))
        return text + (" " + t(lang, "ev.until", t=wib(until)) if until else "")
    if kind in ("uplink_trouble", "uplink_recovered"):
        trouble = t(lang, f"ev.trouble.{data.get('trouble')}")
        return t(lang, f"ev.{kind}", uplink=data.get("uplink", "?"), trouble=trouble)
    if kind in ("failover", "failback", "manual_switch") and data.get("to"):
        return t(lang, "ev.switch", frm=data.get("from") or "—", to=data.get("to") or "—")
    if kind in ("offline", "online"):
        return t(lang, f"ev.{kind}")
    return str(ev.get("message") or kind)


def offline_event(v: dict[str, Any]) -> dict[str, Any] | None:
    """Central's own record of a node going offline (its presence record), as an event."""
    if v["online"] or v.get("offline_at") is None:
        return None
    return {"ts_ms": v["offline_at"], "kind": "offline", "severity": "warning",
            "message": "", "data": {}}


def event_rows(lang: str, v: dict[str, Any], evs: list[dict[str, Any]],
               cmds: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """The event list of the node page, newest first: time, severity, kind, words, actor."""
    rows = list(evs[-SHOWN_EVENTS:])
    off = offline_event(v)
    if off is not None and not any(e.get("kind") == "offline" and e["ts_ms"] == off["ts_ms"]
                                   for e in rows):
        rows.append(off)
    rows.sort(key=lambda e: e["ts_ms"], reverse=True)
    return [{"ts_ms": e["ts_ms"], "when": wib(e["ts_ms"]), "severity": e["severity"],
             "sev": t(lang, f"ev.sev.{e['severity']}"),
             "kind": t(lang, f"ev.kind.{e['kind']}") if f"ev.kind.{e['kind']}" in _kinds()
             else str(e["kind"]),
             "raw_kind": e["kind"], "text": describe(lang, e), "actor": actor(lang, e, cmds)}
            for e in rows]


def _kinds() -> set[str]:
    from central.noc.i18n import CATALOG
    return {k for k in CATALOG if k.startswith("ev.kind.")}


def cause(lang: str, v: dict[str, Any], evs: list[dict[str, Any]],
          cmds: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The cause line: why the node is in its state, since when (the event that began it, or
    central's presence record), plus a throttle that holds besides a worse problem."""
    state, since = v["state"], v.get("since")
    parts: list[str] = []
    if state == "offline":
        parts.append(t(lang, "cause.offline", t=wib(since), seen=wib(v.get("sample"))))
    elif state == "backup":
        parts.append(t(lang, "cause.backup", primary=v["primary"], t=wib(since),
                       active=v["uplink"]))
    elif state == "degraded":
        parts.append(t(lang, "cause.degraded", uplink=v["uplink"], loss=_num(v["loss"], lang),
                       rtt=_num(v["rtt"], lang), t=wib(since)))
    elif state in ("unregistered", "unknown"):
        parts.append(t(lang, f"cause.{state}"))
    elif state == "ok":
        parts.append(t(lang, "cause.ok"))
    newest = next((e for e in reversed(evs) if e.get("kind") == "throttle"), None)
    if newest is not None and newest["ts_ms"] > (v.get("sample") or 0) and v["online"]:
        # the node said so after its newest sample: the event is the truth until a sample
        params = (newest.get("data") or {}).get("params") or {}
        on = (newest.get("data") or {}).get("kind") == "set_throttle"
        v = {**v, "thr_down": params.get("down_kbps") if on else None,
             "thr_up": params.get("up_kbps") if on else None,
             "problems": [p for p in v.get("problems", []) if p != "throttled"]
             + (["throttled"] if on else [])}
    if "throttled" in v.get("problems", []):
        ev = fleet.state_event("throttled", v, evs)
        at = ev["ts_ms"] if ev else (since if state == "throttled" else None)
        who = actor(lang, ev, cmds) if ev else "—"
        text = t(lang, "cause.throttled", down=mbps(v["thr_down"], lang),
                 up=mbps(v["thr_up"], lang), t=wib(at), who=who)
        until = lease_end(ev) if ev else None
        if until:
            text += " " + t(lang, "ev.until", t=wib(until))
        if state == "throttled":
            since = at
            parts.insert(0, text)
        else:
            parts.append(text)
    if not parts:  # throttled by the sample, cleared by a newer event
        parts.append(t(lang, "cause.ok"))
    return {"state": state, "label": t(lang, "state." + state), "text": " ".join(parts),
            "since": since, "online": v["online"]}


def _num(x: Any, lang: str) -> str:
    if x is None:
        return "—"
    text = f"{x:g}"
    return text.replace(".", ",") if lang == "id" else text
