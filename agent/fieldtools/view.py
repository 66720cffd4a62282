"""The facts of a status snapshot as titled sections of rows, in one language.

`kotanet-agent status` prints these rows and the status page renders the very same rows as
HTML, so both always show the same facts. Each row has a level: ok, warn, bad or info.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.fieldtools.i18n import clock_time, duration, kbps, led_text, num, t
from agent.fieldtools.snapfile import is_stale

TROUBLE = {"down": "bad", "flapping": "warn", "recovering": "warn", "degraded": "warn"}
USER_KEYS = ("associated", "authenticated", "leases", "neighbours", "daily_unique")


@dataclass(frozen=True)
class Row:
    """One fact: label, value and how good it is."""

    label: str
    value: str
    level: str = "info"


@dataclass
class Section:
    """A titled group of rows (``key`` is stable, for HTML ids and tests)."""

    key: str
    title: str
    rows: list[Row] = field(default_factory=list)


@dataclass
class View:
    """Headline (level, text) and the sections of one snapshot."""

    title: str
    level: str
    headline: str
    sections: list[Section] = field(default_factory=list)


def _ago(lang: str, snap: dict[str, Any], ms: int | None) -> str:
    return duration(lang, max(0, (int(snap.get("ts_ms") or 0) - (ms or 0)) / 1000))


def uplinks(lang: str, snap: dict[str, Any]) -> Section:
    """One row per uplink: active or standby, state, RTT and loss."""
    sec = Section("uplinks", t(lang, "sec.uplinks"))
    for i, u in enumerate(snap.get("uplinks") or []):
        state = u.get("state")
        words = [t(lang, "primary") if i == 0 else t(lang, "backup"),
                 t(lang, "active") if u.get("active") else t(lang, "standby")]
        if state:
            words.append(t(lang, f"state.{state}"))
        elif u.get("up") is not None:
            words.append(t(lang, "link.up" if u["up"] else "link.down"))
        if u.get("rtt_ms") is not None:
            words.append(t(lang, "rtt", v=f"{num(lang, u['rtt_ms'])} ms"))
        if u.get("loss_pct") is not None:
            words.append(t(lang, "loss", v=f"{num(lang, u['loss_pct'])} %"))
        level = TROUBLE.get(state or "", "ok") if state else (
            "bad" if u.get("up") is False else "ok" if u.get("up") else "info")
        sec.rows.append(Row(f"{u['name']} ({u['iface']})", " · ".join(words), level))
    if not sec.rows:
        sec.rows.append(Row("-", t(lang, "no_uplinks"), "warn"))
    return sec


def _section(lang: str, snap: dict[str, Any], key: str, absent: tuple[str, str, str]
             ) -> tuple[Section, Any]:
    """The section of snapshot ``key`` and its value; when absent, one row (label, text, level)
    says so."""
    sec = Section(key, t(lang, f"sec.{key}"))
    value = snap.get(key)
    if value is None:
        label, text, level = absent
        sec.rows.append(Row(t(lang, label), t(lang, text), level))
    return sec, value


def users(lang: str, snap: dict[str, Any]) -> Section:
    """Users present now and per source (unavailable sources say so)."""
    sec, u = _section(lang, snap, "users", ("users.total", "no_sample", "warn"))
    if u is None:
        return sec
    total = u.get("total")
    sec.rows.append(Row(t(lang, "users.total"), "-" if total is None else str(total), "info"))
    for key in USER_KEYS:
        v = u.get(key)
        sec.rows.append(Row(t(lang, f"users.{key}"),
                            t(lang, "unavailable") if v is None else str(v), "info"))
    return sec


def throttle(lang: str, snap: dict[str, Any]) -> Section:
    """The throttle in force, who set it, per-client limits and its lease."""
    sec, th = _section(lang, snap, "throttle", ("throttle.in_force", "throttle.off", "info"))
    if th is None:
        return sec
    src = t(lang, f"throttle.src.{th['source']}", v=th.get("version"))
    limits = t(lang, "throttle.limits", down=kbps(lang, th.get("down_kbps")),
               up=kbps(lang, th.get("up_kbps")))
    value = src if th["source"] == "none" else f"{src}: {limits}"
    sec.rows.append(Row(t(lang, "throttle.in_force"), value, "info"))
    if th.get("per_client_down_kbps") or th.get("per_client_up_kbps"):
        sec.rows.append(Row(t(lang, "throttle.per_client"), t(
            lang, "throttle.limits", down=kbps(lang, th.get("per_client_down_kbps")),
            up=kbps(lang, th.get("per_client_up_kbps")))))
    sec.rows.append(Row(t(lang, "throttle.clients"), str(th.get("clients", 0))))
    if th["source"] == "central":
        lease = (t(lang, "throttle.lease_left", left=duration(lang, th["lease_left_s"]),
                   total=duration(lang, th["lease_s"]))
                 if th.get("lease_s") and th.get("lease_left_s") is not None
                 else t(lang, "throttle.lease_none"))
        sec.rows.append(Row(t(lang, "throttle.lease"), lease))
    return sec


def broker(lang: str, snap: dict[str, Any]) -> Section:
    """Broker connection, session, central presence and the last receipt."""
    b = snap.get("broker") or {}
    sec = Section("broker", t(lang, "sec.broker"))
    up = bool(b.get("connected"))
    since = b.get("since_ms")
    state = t(lang, "broker.up_since" if up else "broker.down_since", t=clock_time(since)) \
        if since else t(lang, "broker.up" if up else "broker.down")
    sec.rows.append(Row("Broker", f"{b.get('host')}:{b.get('port')} · {state}",
                        "ok" if up else "bad"))
    sec.rows.append(Row(t(lang, "broker.session"), str(b.get("session", 0))))
    names = b.get("centrals_online") or []
    sec.rows.append(Row(t(lang, "broker.central"),
                        t(lang, "broker.central_on", names=", ".join(names)) if names
                        else t(lang, "broker.central_off"), "ok" if names else "warn"))
    rx = b.get("last_receipt_ms")
    sec.rows.append(Row(t(lang, "broker.receipt"), t(
        lang, "broker.receipt_at", ago=_ago(lang, snap, rx), seq=b.get("last_receipt_seq"))
        if rx else t(lang, "never")))
    return sec


def outbox(lang: str, snap: dict[str, Any]) -> Section:
    """How many records wait for central's receipt, the oldest, and whether sending runs."""
    o = snap.get("outbox") or {}
    sec = Section("outbox", t(lang, "sec.outbox"))
    n = o.get("records")
    sec.rows.append(Row(t(lang, "outbox.records"), "-" if n is None else str(n)))
    if o.get("oldest_seq") is None:
        oldest = t(lang, "outbox.empty")
    elif o.get("oldest_ts_ms") is None:  # only in the RAM buffer yet
        oldest = f"seq {o['oldest_seq']}"
    else:
        oldest = t(lang, "outbox.oldest_at", seq=o["oldest_seq"],
                   ago=_ago(lang, snap, o["oldest_ts_ms"]))
    sec.rows.append(Row(t(lang, "outbox.oldest"), oldest))
    sending = bool(o.get("sending"))
    sec.rows.append(Row(t(lang, "outbox.sending"),
                        t(lang, "outbox.send_on" if sending else "outbox.send_wait"),
                        "ok" if sending else "warn"))
    return sec


def clock_and_command(lang: str, snap: dict[str, Any]) -> list[Section]:
    """The clock's sync state, and the last command with its ack stages."""
    c = snap.get("clock") or {}
    synced = bool(c.get("synced"))
    clk = Section("clock", t(lang, "sec.clock"), [Row(
        t(lang, "clock.label"), t(lang, "clock.synced" if synced else "clock.unsynced",
                                t=clock_time(c.get("wall_ms"))), "ok" if synced else "warn")])
    cmd = snap.get("command")
    sec = Section("command", t(lang, "sec.command"))
    if not cmd:
        sec.rows.append(Row(t(lang, "command.label"), t(lang, "command.none")))
    else:
        stages = " → ".join(t(lang, f"stage.{s}") for s in cmd.get("stages") or [cmd["stage"]])
        level = {"applied": "ok", "rejected": "bad", "accepted": "info"}.get(cmd["stage"], "warn")
        sec.rows.append(Row(f"{cmd['kind']} v{cmd['version']}",
                            f"{clock_time(cmd.get('ts_ms'))} · {cmd['cmd_id']}"))
        sec.rows.append(Row(t(lang, "command.ack"), f"{stages} ({cmd.get('code')})", level))
    return [clk, sec]


def leds(lang: str, snap: dict[str, Any]) -> Section:
    """The three LEDs as words and what the pattern means."""
    led = snap.get("leds") or {}
    sec = Section("leds", t(lang, "sec.leds"))
    for name in ("ok", "warn", "fail"):
        mode = str(led.get(name, "off"))
        word = (t(lang, "mode.blink", t=num(lang, float(mode.split()[1].split("/")[0]), 2))
                if mode.startswith("blink") else t(lang, "mode.on" if mode == "on" else "mode.off"))
        sec.rows.append(Row(t(lang, f"led.{name}"), word))
    meaning = led_text(lang, str(led.get("text", "")))
    if not led.get("hardware"):
        meaning += " " + t(lang, "led.nohw")
    sec.rows.append(Row(t(lang, "led.meaning"), meaning,
                        "ok" if led.get("text") == "ok" else "warn"))
    return sec


def system(lang: str, snap: dict[str, Any]) -> Section:
    """CPU, temperature, SD card, memory and power of the Pi (what the sensors give)."""
    s = snap.get("system") or {}
    sec = Section("system", t(lang, "sec.system"))
    for key, unit in (("cpu_pct", " %"), ("temp_c", " °C"), ("disk_pct", " %"),
                      ("mem_pct", " %")):
        if s.get(key) is not None:
            sec.rows.append(Row(t(lang, f"sys.{key.split('_')[0]}"),
                                f"{num(lang, s[key])}{unit}"))
    bad = [k for k in ("undervoltage", "throttled") if s.get(k)]
    sec.rows.append(Row(t(lang, "sys.power"), "; ".join(t(lang, f"sys.{k}") for k in bad)
                        or t(lang, "sys.power_ok"), "bad" if bad else "ok"))
    return sec


def build_view(snap: dict[str, Any] | None, lang: str, path: str = "") -> View:
    """Every section of a snapshot (or the headline saying there is none) in ``lang``."""
    if snap is None:
        return View(t(lang, "title", node="?"), "bad", t(lang, "no_snapshot", path=path))
    node = snap.get("node") or {}
    title = f"{t(lang, 'title', node=node.get('id'))} · {t(lang, 'site', site=node.get('site'))}"
    led = (snap.get("leds") or {}).get("text", "")
    if is_stale(snap):
        level, head = "bad", t(lang, "stale", age=duration(lang, float(snap.get("age_s", 0))))
    elif led == "ok":
        level, head = "ok", t(lang, "all_ok")
    else:
        level, head = "warn", led_text(lang, led)
    head += " · " + t(lang, "updated", age=duration(lang, float(snap.get("age_s", 0))))
    secs = [uplinks(lang, snap), users(lang, snap), throttle(lang, snap), broker(lang, snap),
            outbox(lang, snap), *clock_and_command(lang, snap), leds(lang, snap),
            system(lang, snap)]
    return View(title, level, head, secs)
