"""Bahasa Indonesia and English: the message catalogue, language choice and WIB time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

LANGS: tuple[str, ...] = ("id", "en")
DEFAULT_LANG = "id"
LANG_COOKIE = "kt_lang"
WIB = timezone(timedelta(hours=7), "WIB")  # Asia/Jakarta: UTC+7 all year, no DST

# key: (Bahasa Indonesia, English). {name} placeholders are filled by t().
CATALOG: dict[str, tuple[str, str]] = {
    "app": ("NOC kotanet", "kotanet NOC"),
    "nav.fleet": ("Armada", "Fleet"), "nav.budget": ("Anggaran", "Budget"),
    "nav.users": ("Pengguna", "Users"), "nav.audit": ("Log audit", "Audit log"),
    "nav.settings": ("Pengaturan", "Settings"), "nav.logout": ("Keluar", "Log out"),
    "lang.switch": ("English", "Bahasa Indonesia"),
    "login.title": ("Masuk", "Log in"), "login.user": ("Nama pengguna", "User name"),
    "login.password": ("Kata sandi", "Password"), "login.submit": ("Masuk", "Log in"),
    "login.failed": ("Nama pengguna atau kata sandi salah.", "Wrong user name or password."),
    "login.limited": ("Terlalu banyak percobaan. Coba lagi dalam {s} detik.",
                      "Too many attempts. Try again in {s} seconds."),
    "setup.title": ("Buat admin pertama", "Create the first admin"),
    "setup.token": ("Token admin central", "Central admin token"),
    "setup.bad_token": ("Token admin salah.", "Wrong admin token."),
    "csrf.bad": ("Formulir kedaluwarsa; muat ulang halaman.", "Form expired; reload the page."),
    "forbidden": ("Peran Anda tidak mengizinkan tindakan ini.",
                  "Your role does not allow this action."),
    "tile.online": ("Online", "Online"), "tile.offline": ("Offline", "Offline"),
    "tile.backup": ("Jalur cadangan", "On backup uplink"),
    "tile.throttled": ("Dibatasi", "Throttled"), "tile.users": ("Pengguna sekarang", "Users now"),
    "tile.alerts": ("Peringatan", "Alerts"),
    "tile.alerts_hint": ("celah {gaps} · tak terdaftar {unreg} · offline {off}",
                         "gaps {gaps} · unregistered {unreg} · offline {off}"),
    "state.ok": ("Normal", "OK"), "state.offline": ("Offline", "Offline"),
    "state.backup": ("Jalur cadangan", "On backup"), "state.degraded": ("Terganggu", "Degraded"),
    "state.throttled": ("Dibatasi", "Throttled"),
    "state.unregistered": ("Tak terdaftar", "Unregistered"),
    "state.unknown": ("Belum ada data", "No data yet"),
    "col.node": ("Node", "Node"), "col.site": ("Lokasi", "Site"), "col.role": ("Jenis", "Kind"),
    "col.state": ("Status", "State"), "col.since": ("Sejak", "Since"),
    "col.uplink": ("Jalur aktif", "Active uplink"), "col.users": ("Pengguna", "Users"),
    "col.rtt": ("RTT (ms)", "RTT (ms)"), "col.loss": ("Loss (%)", "Loss (%)"),
    "col.throttle": ("Batas (kbps)", "Throttle (kbps)"),
    "role.park": ("Taman", "Park"), "role.office": ("Kantor", "Office"),
    "filter": ("Saring…", "Filter…"), "filter.all": ("Semua status", "All states"),
    "offline_for": ("offline {d}", "offline for {d}"), "online_for": ("online {d}", "online for {d}"),
    "map.no_coords": ("{n} lokasi tanpa koordinat", "{n} sites without coordinates"),
    "live.connected": ("Langsung", "Live"), "live.lost": ("Terputus — menyambung ulang…",
                                                          "Disconnected — reconnecting…"),
    "node.title": ("Node {node}", "Node {node}"),
    "node.charts": ("Grafik", "Charts"), "node.events": ("Kejadian", "Events"),
    "node.no_events": ("Tidak ada kejadian pada rentang ini.", "No events in this range."),
    "chart.rtt": ("RTT per jalur (ms)", "RTT per uplink (ms)"),
    "chart.loss": ("Loss per jalur (%)", "Loss per uplink (%)"),
    "chart.users": ("Pengguna", "Users"),
    "chart.throughput": ("Throughput dan batas (Mbit/s)", "Throughput and shaping (Mbit/s)"),
    "chart.no_data": ("Tidak ada data", "No data"),
    "cause.ok": ("Semua normal.", "All normal."),
    "cause.offline": ("Offline sejak {t} (terakhir terlihat {seen}).",
                      "Offline since {t} (last seen {seen})."),
    "cause.backup": ("Jalur utama {primary} mati sejak {t}, memakai {active}.",
                     "Primary uplink {primary} down since {t}, on {active}."),
    "cause.degraded": ("Jalur {uplink} terganggu: loss {loss}%, RTT {rtt} ms.",
                       "Uplink {uplink} degraded: loss {loss}%, RTT {rtt} ms."),
    "cause.throttled": ("Dibatasi ke {down} kbps turun / {up} kbps naik (versi {v}).",
                        "Throttled to {down} kbps down / {up} kbps up (version {v})."),
    "cause.unregistered": ("Node tidak ada di registri.", "Node is not in the registry."),
    "cause.unknown": ("Belum ada data dari node ini.", "No data from this node yet."),
    "cmd.title": ("Konsol perintah", "Command console"),
    "cmd.kind": ("Perintah", "Command"), "cmd.send": ("Kirim", "Send"),
    "cmd.set_throttle": ("Batasi bandwidth", "Throttle"),
    "cmd.clear_throttle": ("Hapus batas", "Clear throttle"),
    "cmd.failover": ("Paksa ke jalur cadangan", "Force failover"),
    "cmd.failback": ("Paksa kembali ke jalur utama", "Force failback"),
    "cmd.resync": ("Sinkron ulang", "Resync"),
    "cmd.down": ("Turun (kbps)", "Down (kbps)"), "cmd.up": ("Naik (kbps)", "Up (kbps)"),
    "cmd.ttl": ("Kedaluwarsa bila tak terkirim (detik)", "Expires if not delivered (seconds)"),
    "cmd.lease": ("Lama pembatasan (detik)", "Throttle lease (seconds)"),
    "cmd.state": ("Perintah {cmd}: {state}", "Command {cmd}: {state}"),
    "cmd.confirm": ("Kirim perintah \"{kind}\" ke {node}?", "Send command \"{kind}\" to {node}?"),
    "cmd.sent": ("Perintah terkirim: {detail}", "Command sent: {detail}"),
    "cmd.failed": ("Perintah gagal ({status}): {detail}", "Command failed ({status}): {detail}"),
    "range": ("Rentang", "Range"),
    "budget.title": ("Anggaran bandwidth", "Bandwidth budget"),
    "budget.period": ("Periode", "Period"), "budget.day": ("Harian", "Daily"),
    "budget.month": ("Bulanan", "Monthly"), "budget.days": ("Hari terakhir", "Last days"),
    "budget.capacity": ("Kontrak (Mbit/s)", "Contracted (Mbit/s)"),
    "budget.p95": ("P95 (Mbit/s)", "P95 (Mbit/s)"), "budget.peak": ("Puncak (Mbit/s)",
                                                                    "Peak (Mbit/s)"),
    "budget.idle": ("Jam sepi", "Idle hours"), "budget.use": ("P95 / kontrak", "P95 / contract"),
    "budget.csv": ("Unduh CSV", "Download CSV"), "budget.show": ("Tampilkan", "Show"),
    "budget.chart_site": ("Grafik lokasi", "Chart for site"),
    "users.title": ("Pengguna NOC", "NOC users"), "users.add": ("Tambah pengguna", "Add user"),
    "users.role": ("Peran", "Role"), "users.disabled": ("Nonaktif", "Disabled"),
    "users.save": ("Simpan", "Save"), "users.new_password": ("Kata sandi baru", "New password"),
    "audit.title": ("Log audit", "Audit log"), "audit.when": ("Waktu (WIB)", "Time (WIB)"),
    "audit.who": ("Siapa", "Who"), "audit.action": ("Tindakan", "Action"),
    "audit.target": ("Sasaran", "Target"), "audit.ok": ("Berhasil", "OK"),
    "settings.title": ("Pengaturan", "Settings"),
    "settings.tile_url": ("URL ubin peta (kosong = tanpa ubin)", "Map tile URL (empty = no tiles)"),
    "settings.site": ("Lokasi", "Site"), "saved": ("Tersimpan.", "Saved."),
    "yes": ("ya", "yes"), "no": ("tidak", "no"), "back": ("Kembali", "Back"),
}

JS_KEYS = [k for k in CATALOG if k.split(".")[0] in (
    "state", "offline_for", "online_for", "live", "col", "role", "chart", "cmd", "tile", "map",
    "budget")]


def t(lang: str, key: str, **kw: object) -> str:
    """The text of a key in a language, placeholders filled."""
    pair = CATALOG.get(key)
    if pair is None:
        return key
    text = pair[0] if lang == "id" else pair[1]
    return text.format(**kw) if kw else text


def js_catalog(lang: str) -> dict[str, str]:
    """The keys the browser code needs, in one language."""
    return {k: t(lang, k) for k in JS_KEYS}


def pick_lang(cookie: str | None, accept_language: str | None) -> str:
    """The cookie's language if valid, else the best of Accept-Language, else Indonesian."""
    if cookie in LANGS:
        return str(cookie)
    best: tuple[float, str] | None = None
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        base = tag.strip().lower().split("-")[0]
        if base not in LANGS:
            continue
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if best is None or q > best[0]:
            best = (q, base)
    return best[1] if best else DEFAULT_LANG


def wib(ms: int | None, with_date: bool = True) -> str:
    """A UTC epoch-ms as local Sampit time, e.g. '28-11-2026 10:42 WIB'."""
    if ms is None:
        return "—"
    dt = datetime.fromtimestamp(ms / 1000, UTC).astimezone(WIB)
    return dt.strftime("%d-%m-%Y %H:%M WIB" if with_date else "%H:%M WIB")
