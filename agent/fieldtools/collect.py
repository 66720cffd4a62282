"""What the running agent knows about itself, as one JSON-ready dict (the status snapshot).

``collect`` is the ONLY place in agent/fieldtools that reads an Agent's attributes; every
other helper here gets plain values. When the agent's modules or attribute names move, this
function is the one to fix. Nothing secret is read: the broker target's password, the
credentials files and command signatures never reach the snapshot.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agent import __version__
from agent.clock import clock_synced, wall_ms
from agent.policy.leds import LedPattern, NodeStatus, led_pattern
from agent.transport.presence import boot_id

log = logging.getLogger(__name__)

SCHEMA = "kotanet.status/1"
DETAIL_MAX = 200


def _dump(model: Any) -> dict[str, Any] | None:
    """A pydantic model as JSON-ready dict (None stays None)."""
    return None if model is None else dict(model.model_dump(mode="json"))


def uplink_rows(cfg_uplinks: Iterable[Any], sampled: Iterable[Mapping[str, Any]],
                states: Mapping[str, str], active: str | None) -> list[dict[str, Any]]:
    """One row per configured uplink (most preferred first): config + last sample + state."""
    by_name = {str(u.get("name")): u for u in sampled}
    rows = []
    for up in sorted(cfg_uplinks, key=lambda u: u.priority):
        s = by_name.get(up.name, {})
        rows.append({
            "name": up.name, "iface": up.iface, "kind": up.kind, "priority": up.priority,
            "up": s.get("up"), "active": bool(s["active"]) if "active" in s
            else up.name == active,
            "state": states.get(up.name), "rtt_ms": s.get("rtt_ms"),
            "loss_pct": s.get("loss_pct"), "jitter_ms": s.get("jitter_ms"),
            "rx_bps": s.get("rx_bps"), "tx_bps": s.get("tx_bps")})
    return rows


def throttle_view(ctl: Any, now: float) -> dict[str, Any] | None:
    """The throttle in force, who set it and its lease (None: shaping not enabled)."""
    if ctl is None:
        return None
    eff, central = ctl.effective, ctl.throttle
    source = "central" if central is not None else "default" if eff is not None else "none"
    deadline = ctl.lease_deadline
    return {
        "source": source, "version": ctl.version,
        "down_kbps": eff.down_kbps if eff else None, "up_kbps": eff.up_kbps if eff else None,
        "per_client_down_kbps": eff.per_client_down_kbps if eff else None,
        "per_client_up_kbps": eff.per_client_up_kbps if eff else None,
        "clients": len(ctl.clients),
        "lease_s": central.lease_s if central is not None else None,
        "lease_left_s": round(max(0.0, deadline - now), 1) if deadline is not None else None}


def outbox_view(ob: Any, fwd: Any, now: float) -> dict[str, Any]:
    """Depth of the store-and-forward outbox and the state of delivery."""
    if ob is None:
        return {"records": None}
    lo, hi = ob.bounds()
    first = ob.read_after(-1, 1)  # the oldest record on disk that no receipt covers yet
    return {"records": int(ob.count), "oldest_seq": first[0].seq if first else lo,
            "newest_seq": hi, "oldest_ts_ms": first[0].ts_ms if first else None,
            "inflight_batches": len(fwd.inflight) if fwd is not None else 0,
            "sending": bool(fwd.can_send) if fwd is not None else False,
            "paused_s": round(max(0.0, fwd.paused_until - now), 1) if fwd is not None else 0.0}


def led_status(rows: list[dict[str, Any]], failover: bool, active: str | None,
               broker: tuple[bool, bool, float], system: dict[str, Any] | None,
               backlog: int) -> NodeStatus:
    """What the LEDs reflect, from the snapshot's own facts (as agent/controllers/status.py does for
    the real LEDs): broker = (connected, a central online, seconds without broker)."""
    trouble = ("down", "flapping") if failover else ()
    down = any(u["state"] in trouble if failover else u["up"] is False for u in rows)
    if failover:
        uplink = "none" if active is None else "primary" if active == rows[0]["name"] else "backup"
    elif not rows or all(u["up"] is None for u in rows):
        uplink = "unknown"
    elif all(u["up"] is False for u in rows):
        uplink = "none"
    else:
        on = next((u["name"] for u in rows if u["active"]), None)
        uplink = "unknown" if on is None else "primary" if on == rows[0]["name"] else "backup"
    sysh = system or {}
    return NodeStatus(mqtt_connected=broker[0], central_online=broker[1],
                      broker_down_s=broker[2], active_uplink=uplink,  # type: ignore[arg-type]
                      uplink_down=down, throttled=bool(sysh.get("throttled")),
                      undervoltage=bool(sysh.get("undervoltage")), backlog=backlog)


def led_view(pattern: LedPattern, hardware: bool) -> dict[str, Any]:
    """The three LEDs as text ('on', 'off', 'blink 1/1') and the pattern's reason."""
    return {**{k: v.describe() for k, v in pattern.leds().items()}, "text": pattern.text,
            "hardware": hardware}


def probe_rows(sample: Any) -> list[dict[str, Any]]:
    """How each probe of the last sample fared (details shortened)."""
    return [{"name": p["name"], "status": p["status"], "detail": p["detail"][:DETAIL_MAX]}
            for p in getattr(sample, "probes", None) or []]


def collect(agent: Any, extra: Mapping[str, Any], clock: Callable[[], float] = time.monotonic,
            ) -> dict[str, Any]:
    """The status snapshot of ``agent``; ``extra`` carries what the writer observed itself
    (broker connected since, last receipt, last command and its ack)."""
    now = clock()
    cfg, target, sample = agent.cfg, agent.target, agent.last_sample
    session, fwd, ob, fo = agent.session, agent.forwarder, agent.outbox, agent.failover
    connected = bool(session is not None and session.connected.is_set())
    states = fo.states() if fo is not None else {}
    active = fo.active if fo is not None else None
    sampled = [dict(u) for u in getattr(sample, "uplinks", None) or []]  # JSON values
    rows = uplink_rows(cfg.uplinks, sampled, states, active)
    system = _dump(getattr(sample, "system", None))
    gpio = getattr(getattr(agent, "services", None), "gpio", None)  # the real LEDs, if any
    shown = getattr(gpio, "pattern", None)
    pattern = shown if shown is not None else led_pattern(led_status(
        rows, fo is not None, active, (connected, bool(fwd is not None and fwd.centrals),
                                       float(extra.get("broker_down_s", 0.0))),
        system, int(ob.count) if ob is not None else 0))
    gate = agent.gate.state
    return {
        "schema": SCHEMA, "ts_ms": wall_ms(), "pid": os.getpid(),
        "node": {"id": cfg.node.id, "site": cfg.node.site, "role": cfg.node.role,
                 "agent_version": __version__, "config_hash": cfg.config_hash(),
                 "boot_id": boot_id(), "sample_interval_s": cfg.agent.sample_interval_s},
        "sample_ts_ms": getattr(sample, "ts_ms", None),
        "uplinks": rows,
        "active_uplink": active if fo is not None else next(
            (u["name"] for u in sampled if u.get("active")), None),
        "failover": fo is not None,
        "users": _dump(getattr(sample, "users", None)),
        "system": system,
        "probes": probe_rows(sample),
        "shaping": _dump(getattr(sample, "shaping", None)),
        "throttle": throttle_view(agent.shaping, now),
        "broker": {"host": target.host, "port": target.port, "tls": target.tls,
                   "connected": connected,
                   "session": session.session if session is not None else 0,
                   "since_ms": extra.get("broker_since_ms"),
                   "centrals_online": sorted(fwd.centrals) if fwd is not None else [],
                   "last_receipt_ms": extra.get("last_receipt_ms"),
                   "last_receipt_seq": extra.get("last_receipt_seq")},
        "outbox": outbox_view(ob, fwd, now),
        "clock": {"synced": clock_synced(), "wall_ms": wall_ms()},
        "command": extra.get("command"),
        "gate": {"applied_version": gate.applied_version, "highest_epoch": gate.highest_epoch,
                 "throttle_version": gate.throttle_version},
        "leds": led_view(pattern, bool(gpio is not None and gpio.leds.active)),
    }
