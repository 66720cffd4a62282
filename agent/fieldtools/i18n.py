"""Bahasa Indonesia and English for the on-site tools: language choice, texts, numbers, times.

Indonesian is the technicians' language and the status page's default. ``t(lang, key, **kw)``
formats one text; a key missing from the catalogues is a bug (KeyError in tests). Numbers use
the decimal comma in Indonesian. The selftest's texts live in ``i18n_selftest``.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping

LANGS = ("id", "en")

#: key -> (Bahasa Indonesia, English)
TEXTS: dict[str, tuple[str, str]] = {
    "title": ("Status node {node}", "Node {node} status"),
    "site": ("lokasi {site}", "site {site}"),
    "no_snapshot": ("Agen tidak berjalan: belum ada data status ({path}).",
                    "The agent is not running: no status data yet ({path})."),
    "stale": ("Data status sudah {age} tidak diperbarui: agen macet atau berhenti.",
              "The status data has not been updated for {age}: the agent hangs or stopped."),
    "updated": ("diperbarui {age} lalu", "updated {age} ago"),
    "all_ok": ("Semua normal", "All normal"),
    "sec.uplinks": ("Jalur internet", "Uplinks"),
    "sec.users": ("Pengguna", "Users"),
    "sec.throttle": ("Pembatasan bandwidth", "Bandwidth throttle"),
    "sec.broker": ("Koneksi ke pusat", "Connection to central"),
    "sec.outbox": ("Antrean data", "Data queue (outbox)"),
    "sec.clock": ("Jam", "Clock"),
    "sec.command": ("Perintah terakhir", "Last command"),
    "sec.leds": ("Lampu (LED)", "LEDs"),
    "sec.system": ("Perangkat", "Device"),
    "primary": ("utama", "primary"), "backup": ("cadangan", "backup"),
    "active": ("AKTIF", "ACTIVE"), "standby": ("siaga", "standby"),
    "state.up": ("baik", "up"), "state.degraded": ("menurun", "degraded"),
    "state.down": ("mati", "down"), "state.recovering": ("pulih", "recovering"),
    "state.flapping": ("naik-turun", "flapping"), "link.up": ("kabel/sinyal ada", "link up"),
    "link.down": ("tanpa kabel/sinyal", "no link"),
    "rtt": ("RTT {v}", "RTT {v}"), "loss": ("hilang {v}", "loss {v}"),
    "no_uplinks": ("tidak ada jalur di konfigurasi", "no uplink configured"),
    "users.total": ("Di lokasi sekarang", "Present now"),
    "users.associated": ("Wi-Fi (hostapd)", "Wi-Fi (hostapd)"),
    "users.authenticated": ("Portal (openNDS)", "Portal (openNDS)"),
    "users.leases": ("Alamat DHCP (dnsmasq)", "DHCP leases (dnsmasq)"),
    "users.neighbours": ("Perangkat di LAN", "LAN neighbours"),
    "users.daily_unique": ("Perangkat berbeda hari ini", "Distinct devices today"),
    "unavailable": ("tidak tersedia", "unavailable"),
    "no_sample": ("belum ada pengukuran", "no measurement yet"),
    "throttle.off": ("pembatasan tidak diaktifkan di node ini",
                     "shaping is not enabled on this node"),
    "throttle.in_force": ("Berlaku", "In force"),
    "throttle.src.central": ("dari pusat, versi {v}", "from central, version {v}"),
    "throttle.src.default": ("batas bawaan node", "the node's safe default"),
    "throttle.src.none": ("tanpa batas", "no limit"),
    "throttle.limits": ("unduh {down}, unggah {up}", "download {down}, upload {up}"),
    "throttle.per_client": ("Per klien", "Per client"),
    "throttle.clients": ("Klien dibatasi", "Clients shaped"),
    "throttle.lease": ("Sewa", "Lease"),
    "throttle.lease_left": ("sisa {left} dari {total}", "{left} left of {total}"),
    "throttle.lease_none": ("tanpa batas waktu", "no expiry"),
    "nolimit": ("tanpa batas", "no limit"),
    "broker.up_since": ("terhubung sejak {t}", "connected since {t}"),
    "broker.up": ("terhubung", "connected"), "broker.down": ("terputus", "disconnected"),
    "broker.down_since": ("terputus sejak {t}", "disconnected since {t}"),
    "broker.session": ("Sesi", "Session"),
    "broker.central": ("Pusat", "Central"),
    "broker.central_on": ("online ({names})", "online ({names})"),
    "broker.central_off": ("tidak ada instans pusat online", "no central instance online"),
    "broker.receipt": ("Tanda terima terakhir", "Last receipt"),
    "broker.receipt_at": ("{ago} lalu (sampai seq {seq})", "{ago} ago (up to seq {seq})"),
    "never": ("belum ada", "none yet"),
    "outbox.records": ("Catatan menunggu", "Records waiting"),
    "outbox.oldest": ("Tertua", "Oldest"),
    "outbox.oldest_at": ("seq {seq}, {ago} lalu", "seq {seq}, {ago} ago"),
    "outbox.empty": ("kosong", "empty"),
    "outbox.sending": ("Pengiriman", "Delivery"),
    "outbox.send_on": ("berjalan", "running"), "outbox.send_wait": ("menunggu koneksi/pusat",
                                                                    "waiting for broker/central"),
    "clock.label": ("Sinkronisasi", "Synchronisation"),
    "clock.synced": ("tersinkron (NTP), {t}", "synchronised (NTP), {t}"),
    "clock.unsynced": ("BELUM tersinkron: {t} (TLS dan masa berlaku perintah bisa salah)",
                       "NOT synchronised: {t} (TLS and command expiry may be wrong)"),
    "command.label": ("Perintah", "Command"),
    "command.none": ("belum ada perintah sejak agen mulai", "no command since the agent started"),
    "command.ack": ("Balasan", "Ack"),
    "stage.accepted": ("diterima", "accepted"), "stage.applied": ("diterapkan", "applied"),
    "stage.rejected": ("ditolak", "rejected"), "stage.expired": ("kedaluwarsa", "expired"),
    "stage.superseded": ("sudah digantikan", "superseded"),
    "led.ok": ("Hijau", "Green"), "led.warn": ("Kuning", "Amber"), "led.fail": ("Merah", "Red"),
    "led.meaning": ("Artinya", "Meaning"), "led.nohw": ("(node ini tanpa LED terpasang)",
                                                        "(no LEDs fitted on this node)"),
    "mode.on": ("menyala", "on"), "mode.off": ("mati", "off"),
    "mode.blink": ("berkedip {t} dtk", "blinking {t} s"),
    "sys.cpu": ("CPU", "CPU"), "sys.temp": ("Suhu", "Temperature"),
    "sys.disk": ("Kartu SD terisi", "SD card used"), "sys.mem": ("Memori", "Memory"),
    "sys.power": ("Daya", "Power"), "sys.power_ok": ("normal", "normal"),
    "sys.undervoltage": ("TEGANGAN KURANG (ganti adaptor/kabel)",
                         "UNDER-VOLTAGE (replace the power supply/cable)"),
    "sys.throttled": ("Pi melambat (panas atau daya lemah)", "Pi throttled (heat or weak power)"),
    "refresh": ("Halaman ini diperbarui sendiri tiap {s} detik.",
                "This page refreshes itself every {s} seconds."),
    "other_lang": ("English", "Bahasa Indonesia"),
}

#: the LED pattern's English parts (agent/policy/leds.py) in Indonesian
LED_TEXT_ID = {
    "ok": "normal", "identify": "identifikasi: teknisi mencari perangkat",
    "provisioning": "menunggu konfigurasi", "no uplink": "tidak ada jalur internet",
    "broker lost, reconnecting": "broker putus, menyambung ulang",
    "on backup uplink": "lewat jalur cadangan", "under-voltage": "tegangan kurang",
    "Pi throttled": "Pi melambat", "outbox backlog": "antrean data menumpuk",
    "central offline": "pusat offline", "standby uplink down": "jalur cadangan mati",
}


def pick_lang(arg: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """--lang wins; else LC_ALL, LC_MESSAGES or LANG starting with 'id' -> 'id'; else 'en'."""
    if arg in LANGS:
        return str(arg)
    env = os.environ if env is None else env
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        val = env.get(var, "")
        if val:
            return "id" if val.lower().startswith(("id", "in_")) else "en"
    return "en"


def t(lang: str, key: str, **kw: object) -> str:
    """One text in ``lang`` with its placeholders filled."""
    pair = TEXTS[key]
    return (pair[0] if lang == "id" else pair[1]).format(**kw)


def num(lang: str, value: float, digits: int = 1) -> str:
    """A number with at most ``digits`` decimals (decimal comma in Indonesian)."""
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"
    return text.replace(".", ",") if lang == "id" else text


def kbps(lang: str, value: int | None) -> str:
    """A rate in kbit/s as '512 kbit/s' or '20 Mbit/s' (None: no limit)."""
    if value is None:
        return t(lang, "nolimit")
    return f"{num(lang, value / 1000)} Mbit/s" if value >= 1000 else f"{value} kbit/s"


def duration(lang: str, seconds: float) -> str:
    """'45 dtk', '4 mnt 10 dtk', '2 j 5 mnt' (id) or '45 s', '4 min 10 s', '2 h 5 min' (en)."""
    s = max(0, int(seconds))
    sec, mins, hours = ("dtk", "mnt", "j") if lang == "id" else ("s", "min", "h")
    if s < 60:
        return f"{s} {sec}"
    if s < 3600:
        return f"{s // 60} {mins}" + (f" {s % 60} {sec}" if s % 60 else "")
    return f"{s // 3600} {hours}" + (f" {s % 3600 // 60} {mins}" if s % 3600 // 60 else "")


def clock_time(ms: int | None) -> str:
    """Local date and time of a wall-clock millisecond value."""
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def led_text(lang: str, text: str) -> str:
    """The LED pattern's reason line in ``lang`` (unknown parts stay as they are)."""
    if lang != "id":
        return text
    out = []
    for part in text.split("; "):
        if part.startswith("degraded: "):
            reasons = [LED_TEXT_ID.get(r, r) for r in part[len("degraded: "):].split(", ")]
            out.append("menurun: " + ", ".join(reasons))
        elif m := re.fullmatch(r"no broker for (\d+)s or more", part):
            out.append(f"broker tak terjangkau >= {int(m.group(1)) // 60} menit")
        else:
            out.append(LED_TEXT_ID.get(part, part))
    return "; ".join(out)
