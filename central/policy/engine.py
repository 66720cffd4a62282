"""The throttling policy engine: pure, one tick = latest observations in, desired throttles out."""

from __future__ import annotations

import copy
import datetime as dt
import logging

from central.policy import congestion
from central.policy.model import (
    GroupState,
    NodeObs,
    Override,
    PolicyConfig,
    PolicyInputs,
    PolicyState,
    Reason,
    SiteInfo,
    Throttle,
    ThrottleDecision,
)
from central.policy.reasons import TEMPLATES, part, render
from central.policy.schedule import active_event, period

log = logging.getLogger(__name__)
Parts = list[tuple[str, dict[str, str | int | float]]]


def _quantize(kbps: float, q: int, cap: int | None = None) -> int:
    """Round down to a step of ``q`` (q/4 below 4 q, q/8 below q): error stays under 7 %."""
    if cap is not None and kbps >= cap:
        return cap
    step = q if kbps >= 16 * q else q // 4 if kbps >= 4 * q else max(1, q // 8)
    return max(step, int(kbps // step) * step)


def _similar(a: Throttle | None, b: Throttle | None, band: float) -> bool:
    """Equal up to the dead band (None only equals None)."""
    if a is None or b is None:
        return a is b
    for x, y in ((a.down_kbps, b.down_kbps), (a.up_kbps, b.up_kbps),
                 (a.per_client_down_kbps, b.per_client_down_kbps),
                 (a.per_client_up_kbps, b.per_client_up_kbps)):
        if (x is None) != (y is None):
            return False
        if x is not None and y is not None and abs(x - y) > band * max(x, y):
            return False
    return True


def _with_floor(t: Throttle, site: SiteInfo) -> Throttle:
    pcd, pcu = t.per_client_down_kbps, t.per_client_up_kbps
    down, up = max(t.down_kbps, site.floor_down_kbps), max(t.up_kbps, site.floor_up_kbps)
    return Throttle(down, up,
                    None if pcd is None else min(down, max(pcd, site.floor_per_client_kbps)),
                    None if pcu is None else min(up, max(pcu, site.floor_per_client_kbps)))


def _key(site: SiteInfo, inp: PolicyInputs) -> str:
    if site.role == "park" and active_event(site.node, inp.now_ms, inp.schedule):
        return "park/event"
    return f"{site.role}/{period(inp.now_ms, inp.schedule)}"


def _crowded(st: PolicyState, node: str, users: int | None, cfg: PolicyConfig) -> bool:
    was = st.crowded.get(node, False)
    if users is not None:
        was = users >= cfg.crowd_on or (was and users > cfg.crowd_off)
    st.crowded[node] = was
    return was


def _smoothed_users(st: PolicyState, node: str, users: int | None, cfg: PolicyConfig
                    ) -> float | None:
    """EWMA of the user count over about ``users_window_ticks`` ticks (None until known)."""
    prev = st.users.get(node)
    if users is None:
        return prev
    now = float(users) if prev is None else prev + (users - prev) / cfg.users_window_ticks
    st.users[node] = now
    return now


def candidate_throttle(site: SiteInfo, obs: NodeObs, inp: PolicyInputs, st: PolicyState,
            cfg: PolicyConfig) -> tuple[Throttle | None, Parts]:
    """The throttle this node should have now, ignoring hold times, and why."""
    upstream = inp.upstreams[site.upstream]
    group = [s for s in inp.sites.values() if s.upstream == site.upstream]
    weight = cfg.weights.get(_key(site, inp), 1.0)
    total_w = sum(cfg.weights.get(_key(s, inp), 1.0) for s in group) or 1.0
    per = period(inp.now_ms, inp.schedule)
    gs = st.groups.get(site.upstream, GroupState())
    protected = site.role == "office" and per == "office_hours"
    level = max(0, gs.level - cfg.protected_levels) if protected else gs.level
    factor = cfg.step_factor ** level
    down = min(site.contract_down_kbps, upstream.capacity_down_kbps * cfg.overcommit * weight
               / total_w) * factor
    up = min(site.contract_up_kbps, upstream.capacity_up_kbps * cfg.overcommit * weight
             / total_w) * factor
    parts: Parts = []
    if level:
        parts.append(part("congestion", upstream=site.upstream, rise=gs.rtt_rise_ms,
                          loss=gs.loss_pct, level=level))
    ev = active_event(site.node, inp.now_ms, inp.schedule) if site.role == "park" else None
    if ev:
        parts.append(part("event", event=ev.name))
    crowded = _crowded(st, site.node, obs.users, cfg)
    users = _smoothed_users(st, site.node, obs.users, cfg)
    if down >= site.contract_down_kbps and up >= site.contract_up_kbps and not crowded:
        st.raw[site.node] = None
        return None, [part("within_contract")]
    t = Throttle(_quantize(down, cfg.quantum_kbps, site.contract_down_kbps),
                 _quantize(up, cfg.quantum_kbps, site.contract_up_kbps))
    raw = Throttle(int(down), int(up))
    if crowded and users:
        fair = cfg.fair_factor / users
        t = Throttle(t.down_kbps, t.up_kbps, _quantize(t.down_kbps * fair, cfg.quantum_kbps),
                     _quantize(t.up_kbps * fair, cfg.quantum_kbps))
        raw = Throttle(raw.down_kbps, raw.up_kbps, int(down * fair), int(up * fair))
    floored = _with_floor(t, site)
    st.raw[site.node] = _with_floor(raw, site)  # unquantized: what the dead band compares
    if crowded and users:
        parts.append(part("crowded", users=round(users), per_client=floored.per_client_down_kbps or 0))
    parts.append(part("share", upstream=site.upstream, period=per, down=floored.down_kbps,
                      up=floored.up_kbps))
    if floored.down_kbps > t.down_kbps or floored.up_kbps > t.up_kbps:
        parts.append(part("floor", floor=site.floor_down_kbps))
    return floored, parts


def _override(ov: Override, site: SiteInfo) -> tuple[Throttle | None, Parts]:
    until = dt.datetime.fromtimestamp(ov.until_ms / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    by = f" ({ov.operator})" if ov.operator else ""
    parts: Parts = [part("override", until=until, by=by)]
    if ov.throttle is None:
        return None, parts
    t = _with_floor(ov.throttle, site)
    if t != ov.throttle:
        parts.append(part("floor", floor=site.floor_down_kbps))
    return t, parts


def _offline(prev: ThrottleDecision) -> ThrottleDecision:
    en, id_ = TEMPLATES["offline_hold"]
    reason = Reason("offline_hold", prev.reason.params, f"{en}; {prev.reason.en}",
                    f"{id_}; {prev.reason.id}")
    return ThrottleDecision(prev.node, prev.throttle, reason, prev.since_ms, prev.epoch)


def decide(inp: PolicyInputs, state: PolicyState, cfg: PolicyConfig | None = None
           ) -> tuple[dict[str, ThrottleDecision], PolicyState]:
    """One policy tick: desired throttle per node and the state to pass to the next tick."""
    cfg = cfg or PolicyConfig()
    st = copy.deepcopy(state)
    new_epoch = st.epoch != inp.epoch
    st.epoch = inp.epoch
    for name in sorted({s.upstream for s in inp.sites.values()} & set(inp.upstreams)):
        online = [o for n, o in inp.observations.items() if o.online and n in inp.sites
                  and inp.sites[n].upstream == name]
        st.groups[name] = congestion.update(st.groups.get(name, GroupState()), online,
                                            inp.now_ms, cfg)
    overrides = {o.node: o for o in inp.overrides if o.until_ms > inp.now_ms}
    out: dict[str, ThrottleDecision] = {}
    for node, site in sorted(inp.sites.items()):
        prev, obs = st.decisions.get(node), inp.observations.get(node)
        if obs is None or not obs.online or site.upstream not in inp.upstreams:
            st.offline.add(node)
            if prev is not None:
                out[node] = _offline(prev)  # kept as it was, not renewed
            continue
        back = node in st.offline
        st.offline.discard(node)
        forced = node in overrides
        want, parts = (_override(overrides[node], site) if forced
                       else candidate_throttle(site, obs, inp, st, cfg))
        to_floor = any(code == "floor" for code, _ in parts) and want != prev.throttle \
            if prev is not None else False
        raw = want if forced else st.raw.get(node, want)
        if prev is None or (forced and want != prev.throttle) or (
                want != prev.throttle
                and (to_floor or not _similar(raw, prev.throttle, cfg.dead_band))
                and inp.now_ms - prev.since_ms >= cfg.hold_ms):
            dec = ThrottleDecision(node, want, render(parts), inp.now_ms, inp.epoch, changed=True)
            if prev is not None:
                log.info("policy %s: %s -> %s (%s)", node, prev.throttle, want, dec.reason.en)
        else:
            dec = ThrottleDecision(node, prev.throttle, prev.reason, prev.since_ms, inp.epoch)
        last = st.sent_ms.get(node)
        renew = dec.throttle is not None and (last is None
                                              or inp.now_ms - last >= cfg.renew_every_ms)
        if dec.changed or new_epoch or renew or back:
            dec = ThrottleDecision(dec.node, dec.throttle, dec.reason, dec.since_ms, dec.epoch,
                           dec.changed, send=True)
            st.sent_ms[node] = inp.now_ms
        out[node] = st.decisions[node] = dec
    return out, st
