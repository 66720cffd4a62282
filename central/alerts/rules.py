"""Pure alert rules: node presence and LIVE samples in, alerts to open or resolve out.

Hysteresis per (node, kind): open after the condition held for its duration (threshold rules:
``sustain_samples`` in a row), resolve after clear long enough (below a lower clear threshold).
Historical samples and samples older than the freshness window never count: alerts are about now.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from central.alerts.model import (
    AlertConfig,
    AlertState,
    LiveSample,
    NodeInputs,
    Opened,
    Resolved,
    Track,
)


@dataclass(frozen=True)
class Finding:
    """A rule's verdict: holds True/False, or None when unknown (no live data)."""

    holds: bool | None
    since_ms: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)


Rule = Callable[[NodeInputs, list[LiveSample], int, AlertConfig], Finding]


def live_samples(n: NodeInputs, now_ms: int, cfg: AlertConfig) -> list[LiveSample]:
    """Samples that describe the present: not historical, not older than the freshness window."""
    fresh = int(cfg.freshness_s * 1000)
    return sorted((s for s in n.samples if not s.historical and s.ts_ms >= now_ms - fresh
                   and s.received_ms - s.ts_ms <= fresh), key=lambda s: s.ts_ms)


def _offline(n: NodeInputs, _live: list[LiveSample], now: int, cfg: AlertConfig) -> Finding:
    if not n.online:
        since = n.offline_since_ms if n.offline_since_ms is not None else n.last_seen_ms
        return Finding(True, since, {"offline_since_ms": since, "last_seen_ms": n.last_seen_ms,
                                     "reason": "offline" if since is not None else "never_seen"})
    if n.last_seen_ms is not None and now - n.last_seen_ms >= cfg.silent_s * 1000:
        return Finding(True, n.last_seen_ms, {"last_seen_ms": n.last_seen_ms, "reason": "silent"})
    return Finding(False)


def _backup(n: NodeInputs, live: list[LiveSample], _now: int, _cfg: AlertConfig) -> Finding:
    with_active = [s for s in live if s.active is not None]
    if n.primary_uplink is None or not with_active:
        return Finding(None)
    last = since = with_active[-1]
    if last.active == n.primary_uplink:
        return Finding(False)
    for s in reversed(with_active):
        if s.active == n.primary_uplink:
            break
        since = s
    return Finding(True, since.ts_ms, {"active": last.active, "primary": n.primary_uplink})


def _sustained(live: list[LiveSample], k: int, bad: Callable[[LiveSample], bool | None],
               good: Callable[[LiveSample], bool | None]) -> bool | None:
    """True if the last k live samples are all bad, False if all good, else None."""
    if len(last := live[-k:]) < k:
        return None
    if all(bad(s) for s in last):
        return True
    if all(good(s) for s in last):
        return False
    return None


def _degraded(_n: NodeInputs, live: list[LiveSample], _now: int, cfg: AlertConfig) -> Finding:
    last = [s for s in live if s.active is not None][-cfg.sustain_samples:]
    holds = _sustained(
        last, cfg.sustain_samples,
        lambda s: (s.loss_pct or 0) > cfg.loss_pct or (s.rtt_ms or 0) > cfg.rtt_ms,
        lambda s: (s.loss_pct or 0) < cfg.loss_clear_pct and (s.rtt_ms or 0) < cfg.rtt_clear_ms)
    return Finding(holds, None, {"uplink": last[-1].active if last else None,
                                 "loss_pct": [s.loss_pct for s in last],
                                 "rtt_ms": [s.rtt_ms for s in last]})


def _threshold(attr: str, limit: str, clear: str) -> Rule:
    def rule(_n: NodeInputs, live: list[LiveSample], _now: int, cfg: AlertConfig) -> Finding:
        hi, lo = getattr(cfg, limit), getattr(cfg, clear)
        vals = [s for s in live if getattr(s, attr) is not None]
        holds = _sustained(vals, cfg.sustain_samples, lambda s: getattr(s, attr) > hi,
                           lambda s: getattr(s, attr) < lo)
        last = [getattr(s, attr) for s in vals[-cfg.sustain_samples:]]
        return Finding(holds, None, {attr: last[-1] if last else None, "limit": hi,
                                     "values": last})
    return rule


def _undervoltage(_n: NodeInputs, live: list[LiveSample], _now: int, c: AlertConfig) -> Finding:
    vals = [s for s in live if s.undervoltage is not None]
    return Finding(_sustained(vals, c.sustain_samples, lambda s: s.undervoltage,
                              lambda s: not s.undervoltage), None, {"samples": len(vals)})


def _gap(n: NodeInputs, _live: list[LiveSample], _now: int, _cfg: AlertConfig) -> Finding:
    if not n.gaps:
        return Finding(False)
    missing = sum(hi - lo + 1 for lo, hi in n.gaps)
    return Finding(True, None, {"ranges": len(n.gaps), "missing": missing,
                                "first": [list(g) for g in n.gaps[:20]]})


def _unregistered(n: NodeInputs, _l: list[LiveSample], _n: int, _c: AlertConfig) -> Finding:
    return Finding(n.unregistered, n.last_seen_ms, {"site": n.site})


RULES: dict[str, tuple[str, Rule]] = {
    "offline": ("critical", _offline),
    "backup_uplink": ("warning", _backup),
    "uplink_degraded": ("warning", _degraded),
    "delivery_gap": ("warning", _gap),
    "unregistered": ("warning", _unregistered),
    "temperature": ("critical", _threshold("temp_c", "temp_c", "temp_clear_c")),
    "undervoltage": ("warning", _undervoltage),
    "disk_full": ("warning", _threshold("disk_pct", "disk_pct", "disk_clear_pct")),
}
KINDS: tuple[str, ...] = tuple(RULES)


def _step(tr: Track, f: Finding, now: int, open_ms: int,
          clear_ms: int) -> tuple[Track, str | None]:
    """Advance one tracker; returns the new track and 'open', 'resolve' or None."""
    if f.holds is None:  # unknown: keep open/closed, restart both timers
        return Track(active=tr.active), None
    if f.holds:
        if tr.active:
            return Track(active=True), None
        since = now if tr.pending_since_ms is None else tr.pending_since_ms
        if f.since_ms is not None:
            since = min(since, f.since_ms)
        if now - since >= open_ms:
            return Track(active=True), "open"
        return Track(pending_since_ms=since), None
    if not tr.active:
        return Track(), None
    clear = now if tr.clear_since_ms is None else tr.clear_since_ms
    if now - clear >= clear_ms:
        return Track(), "resolve"
    return replace(tr, pending_since_ms=None, clear_since_ms=clear), None


def evaluate(nodes: Sequence[NodeInputs], state: Mapping[tuple[str, str], Track], now_ms: int,
             cfg: AlertConfig) -> tuple[list[Opened | Resolved], AlertState]:
    """Run every rule on every node; returns the alerts to open or resolve and the new state."""
    out: list[Opened | Resolved] = []
    new: AlertState = dict(state)
    for n in nodes:
        live = live_samples(n, now_ms, cfg)
        for kind, (severity, rule) in RULES.items():
            f = rule(n, live, now_ms, cfg)
            key = (n.node, kind)
            track, action = _step(state.get(key, Track()), f, now_ms, *cfg.timing_ms(kind))
            new[key] = track
            if action == "open":
                ev = f.evidence if f.since_ms is None else {**f.evidence, "since_ms": f.since_ms}
                en, id_ = message(kind, n.node, n.site, ev, now_ms)
                out.append(Opened(n.node, n.site, kind, severity, now_ms, ev, en, id_))
            elif action == "resolve":
                out.append(Resolved(n.node, kind, now_ms))
    return out, new


TEXT: dict[str, tuple[str, str]] = {
    "offline": ("Node {node} at {site} has been offline for {min} min",
                "Node {node} di {site} offline selama {min} menit"),
    "never_seen": ("Node {node} at {site} has never connected",
                   "Node {node} di {site} belum pernah terhubung"),
    "silent": ("Node {node} at {site} has sent nothing for {min} min",
               "Node {node} di {site} tidak mengirim data selama {min} menit"),
    "backup_uplink": ("Node {node} at {site} runs on backup uplink {active} (primary {primary}) "
                      "for {min} min", "Node {node} di {site} memakai uplink cadangan {active} "
                      "(utama {primary}) selama {min} menit"),
    "uplink_degraded": ("Uplink {uplink} of node {node} at {site} is degraded: loss {loss_pct} %, "
                        "RTT {rtt_ms} ms", "Uplink {uplink} node {node} di {site} terganggu: "
                        "loss {loss_pct} %, RTT {rtt_ms} ms"),
    "delivery_gap": ("Node {node} at {site}: {missing} records never arrived ({ranges} gaps)",
                     "Node {node} di {site}: {missing} data tidak pernah tiba ({ranges} celah)"),
    "unregistered": ("Unregistered node {node} is reporting from site {site}",
                     "Node tak terdaftar {node} mengirim data dari lokasi {site}"),
    "temperature": ("Node {node} at {site}: CPU temperature {temp_c} C, above {limit} C",
                    "Node {node} di {site}: suhu CPU {temp_c} C, di atas {limit} C"),
    "undervoltage": ("Node {node} at {site} reports under-voltage: check the power supply",
                     "Node {node} di {site} kekurangan tegangan: periksa catu daya"),
    "disk_full": ("Node {node} at {site}: disk {disk_pct} % full, above {limit} %",
                  "Node {node} di {site}: disk terisi {disk_pct} %, di atas {limit} %"),
}


def _fmt(v: Any) -> str:
    if isinstance(v, list):
        return "/".join(_fmt(x) for x in v)
    return "?" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def message(kind: str, node: str, site: str, ev: Mapping[str, Any],
            now_ms: int) -> tuple[str, str]:
    """The alert text in English and Bahasa Indonesia."""
    since = ev.get("offline_since_ms") or ev.get("last_seen_ms") or ev.get("since_ms")
    fields = defaultdict(lambda: "?", {k: _fmt(v) for k, v in ev.items()})
    fields.update(node=node, site=site,
                  min="?" if since is None else str(max(0, (now_ms - since) // 60000)))
    en, id_ = TEXT[ev.get("reason", kind) if kind == "offline" else kind]
    return en.format_map(fields), id_.format_map(fields)
