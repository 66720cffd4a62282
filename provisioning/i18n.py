"""Technician-facing messages in Bahasa Indonesia and English (one small catalogue)."""

from __future__ import annotations

import os

LANGS = ("id", "en")

CATALOGUE: dict[str, dict[str, str]] = {
    "inventory_ok": {
        "en": "Inventory OK: {sites} site(s), {nodes} node(s).",
        "id": "Inventaris benar: {sites} lokasi, {nodes} node.",
    },
    "inventory_errors": {
        "en": "{count} error(s) in the inventory; nothing was written.",
        "id": "{count} kesalahan dalam inventaris; tidak ada yang ditulis.",
    },
    "init_done": {
        "en": "New deployment in {dir}: CA, signing key, broker certificate and users created.",
        "id": "Deployment baru di {dir}: CA, kunci tanda tangan, sertifikat broker dan pengguna dibuat.",
    },
    "init_exists": {
        "en": "{dir} already holds a deployment; refusing to overwrite it.",
        "id": "{dir} sudah berisi deployment; tidak akan ditimpa.",
    },
    "no_deployment": {
        "en": "No deployment in {dir}: run 'kotanet-provision init {dir}' first.",
        "id": "Tidak ada deployment di {dir}: jalankan dulu 'kotanet-provision init {dir}'.",
    },
    "build_done": {
        "en": "Built {nodes} node bundle(s) and the broker files in {dir}.",
        "id": "{nodes} bundel node dan berkas broker dibuat di {dir}.",
    },
    "building": {"en": "Building", "id": "Membuat"},
    "stale_nodes": {
        "en": "Still admitted at the broker but not in this inventory: {nodes} "
              "(revoke them to remove their access).",
        "id": "Masih diterima broker tetapi tidak ada di inventaris ini: {nodes} "
              "(cabut untuk menghapus aksesnya).",
    },
    "unknown_node": {
        "en": "Node {node} is not in the manifest {path}; run 'build' first.",
        "id": "Node {node} tidak ada di manifest {path}; jalankan 'build' dulu.",
    },
    "sdcard_done": {
        "en": "Seed for {node} written to {boot} ({os}); enrolment token valid until {until} UTC.",
        "id": "Seed untuk {node} ditulis ke {boot} ({os}); token pendaftaran berlaku sampai {until} UTC.",
    },
    "sdcard_unknown_os": {
        "en": "Cannot tell the OS of {boot}: no cmdline.txt. Is this a boot partition? Use --os.",
        "id": "OS di {boot} tidak dikenali: cmdline.txt tidak ada. Apakah ini partisi boot? Pakai --os.",
    },
    "label_done": {"en": "Label written: {files}", "id": "Label ditulis: {files}"},
    "rotate_started": {
        "en": "New credentials for {node} as user {user}; the old ones stay valid until "
              "'rotate {node} --confirm'. Deliver the bundle in {bundle}.",
        "id": "Kredensial baru untuk {node} sebagai pengguna {user}; yang lama tetap berlaku sampai "
              "'rotate {node} --confirm'. Kirim bundel di {bundle}.",
    },
    "rotate_confirmed": {
        "en": "Rotation of {node} confirmed: only user {user} is valid now.",
        "id": "Rotasi {node} dikonfirmasi: sekarang hanya pengguna {user} yang berlaku.",
    },
    "rotate_nothing": {
        "en": "No rotation of {node} is pending.",
        "id": "Tidak ada rotasi {node} yang tertunda.",
    },
    "revoked": {
        "en": "Node {node} revoked: its broker users are removed from the broker files.",
        "id": "Node {node} dicabut: pengguna brokernya dihapus dari berkas broker.",
    },
    "broker_reloaded": {
        "en": "Broker reloaded (SIGHUP to pid {pid}): the change is in force.",
        "id": "Broker dimuat ulang (SIGHUP ke pid {pid}): perubahan sudah berlaku.",
    },
    "broker_not_reloaded": {
        "en": "Broker NOT reloaded: no mosquitto pid file found ({files}). The change is not in "
              "force yet: install {dir} on the broker host and run 'systemctl reload mosquitto' "
              "there, or run again with --pid-file.",
        "id": "Broker TIDAK dimuat ulang: berkas pid mosquitto tidak ditemukan ({files}). "
              "Perubahan belum berlaku: pasang {dir} di host broker lalu jalankan "
              "'systemctl reload mosquitto' di sana, atau ulangi dengan --pid-file.",
    },
    "revoked_already": {
        "en": "Node {node} is revoked; build it again to re-admit it.",
        "id": "Node {node} sudah dicabut; build ulang untuk menerimanya kembali.",
    },
    "verify_title": {"en": "Checking node {node} at {url}", "id": "Memeriksa node {node} di {url}"},
    "chk_online": {"en": "node online (retained state)", "id": "node online (status tersimpan)"},
    "chk_hash": {"en": "config hash matches {expected}", "id": "hash konfigurasi cocok {expected}"},
    "chk_uplinks": {"en": "every uplink probed: {names}", "id": "semua uplink diuji: {names}"},
    "chk_users": {"en": "a user-count source found", "id": "sumber jumlah pengguna ditemukan"},
    "chk_clock": {"en": "clock synchronised (NTP)", "id": "jam tersinkron (NTP)"},
    "chk_throttle": {"en": "throttle state: {state}", "id": "status pembatasan: {state}"},
    "throttle_none": {"en": "none (safe default)", "id": "tidak ada (bawaan aman)"},
    "verify_pass": {"en": "PASS: node {node} is ready.", "id": "LULUS: node {node} siap."},
    "verify_fail": {
        "en": "FAIL: node {node} is not ready (see the ✗ items). If the agent was already "
              "running, restart it so it sends a new birth.",
        "id": "GAGAL: node {node} belum siap (lihat butir ✗). Jika agent sudah berjalan, "
              "restart agar mengirim birth baru.",
    },
    "optional": {"en": "(optional)", "id": "(opsional)"},
    "mqtt_failed": {
        "en": "Cannot connect to {url}: {reason}",
        "id": "Tidak bisa terhubung ke {url}: {reason}",
    },
}


#: Inventory problems (codes used by provisioning.inventory and provisioning.rules).
ERRORS: dict[str, dict[str, str]] = {
    "e_missing": {"en": "required value is missing", "id": "nilai wajib tidak ada"},
    "e_missing_file": {"en": "file not found", "id": "berkas tidak ditemukan"},
    "e_unknown_field": {"en": "unknown field (typo?)", "id": "kolom tidak dikenal (salah ketik?)"},
    "e_duplicate_key": {"en": "key given twice", "id": "kunci ditulis dua kali"},
    "e_yaml": {"en": "not valid YAML: {detail}", "id": "YAML tidak valid: {detail}"},
    "e_yaml_root": {"en": "expected a mapping with 'sites' and 'nodes'",
                    "id": "harus berisi 'sites' dan 'nodes'"},
    "e_not_list": {"en": "must be a list", "id": "harus berupa daftar"},
    "e_malformed_row": {"en": "malformed entry (expected key: value pairs)",
                        "id": "entri rusak (harus pasangan kunci: nilai)"},
    "e_csv_empty": {"en": "empty CSV file", "id": "berkas CSV kosong"},
    "e_csv_columns": {"en": "row has {got} columns, header has {want}",
                      "id": "baris berisi {got} kolom, header {want}"},
    "e_duplicate": {"en": "duplicate {value!r}", "id": "duplikat {value!r}"},
    "e_bad_id": {"en": "{value!r} is not a valid id (1-64 of A-Z a-z 0-9 _ . -, no / + #)",
                 "id": "{value!r} bukan id yang sah (1-64 dari A-Z a-z 0-9 _ . -, tanpa / + #)"},
    "e_reserved_id": {"en": "{value!r} is reserved for a broker user",
                      "id": "{value!r} dipakai untuk pengguna broker"},
    "e_not_int": {"en": "{value!r} is not a whole number", "id": "{value!r} bukan bilangan bulat"},
    "e_not_number": {"en": "{value!r} is not a number", "id": "{value!r} bukan angka"},
    "e_not_bool": {"en": "{value!r} is not yes/no", "id": "{value!r} bukan ya/tidak"},
    "e_range": {"en": "{value} is outside {lo}..{hi}", "id": "{value} di luar {lo}..{hi}"},
    "e_choice": {"en": "{value!r} is not one of: {choices}",
                 "id": "{value!r} bukan salah satu dari: {choices}"},
    "e_coords_outside": {"en": "{value} is outside Indonesia ({lo}..{hi}); lat/lon swapped?",
                         "id": "{value} di luar Indonesia ({lo}..{hi}); lat/lon tertukar?"},
    "e_unknown_site": {"en": "site {value!r} is not in the sites list",
                       "id": "lokasi {value!r} tidak ada di daftar lokasi"},
    "e_unknown_board": {"en": "unknown board {value!r}; known: {choices}",
                        "id": "papan {value!r} tidak dikenal; yang dikenal: {choices}"},
    "e_uplinks_missing": {"en": "at least one uplink is needed", "id": "minimal satu uplink"},
    "e_bad_iface": {"en": "{value!r} is not a Linux interface name",
                    "id": "{value!r} bukan nama antarmuka Linux"},
    "e_bad_ip": {"en": "{value!r} is not an IPv4 address", "id": "{value!r} bukan alamat IPv4"},
    "e_gpio_conflict": {"en": "GPIO {pin} is already used by {other}",
                        "id": "GPIO {pin} sudah dipakai oleh {other}"},
    "e_ssid_len": {"en": "SSID must be 1-32 bytes (is {bytes})",
                   "id": "SSID harus 1-32 byte (sekarang {bytes})"},
    "e_ssid_chars": {"en": "SSID must not contain control characters (tab, newline...)",
                     "id": "SSID tidak boleh berisi karakter kontrol (tab, baris baru...)"},
    "e_wpa_len": {"en": "WPA passphrase must be 8-63 printable ASCII characters (has {length})",
                  "id": "kata sandi WPA harus 8-63 karakter ASCII (sekarang {length})"},
    "e_open_office": {"en": "open Wi-Fi is only for parks (captive portal); offices need WPA",
                      "id": "Wi-Fi terbuka hanya untuk taman (portal); kantor wajib WPA"},
    "e_open_with_pass": {"en": "open network must not have a passphrase",
                         "id": "jaringan terbuka tidak boleh punya kata sandi"},
    "e_channel_country": {"en": "channel {value} is not allowed in Indonesia (ID)",
                          "id": "kanal {value} tidak diizinkan di Indonesia (ID)"},
    "e_channel_outdoor": {"en": "channel {value} (5 GHz) is indoor-only in Indonesia; parks use 1-13",
                          "id": "kanal {value} (5 GHz) hanya untuk dalam ruangan; taman pakai 1-13"},
    "e_channel_board": {"en": "board {board} has no 5 GHz radio (channel {value})",
                        "id": "papan {board} tidak punya radio 5 GHz (kanal {value})"},
    "e_bad_subnet": {"en": "{value!r} is not an IPv4 network like 10.20.1.0/24",
                     "id": "{value!r} bukan jaringan IPv4 seperti 10.20.1.0/24"},
    "e_subnet_kind": {"en": "{value!r} must be a private network, prefix /16../29",
                      "id": "{value!r} harus jaringan privat, prefiks /16../29"},
    "e_subnet_overlap": {"en": "{value} overlaps {other} of node {node}",
                         "id": "{value} bertumpang tindih dengan {other} milik node {node}"},
}
CATALOGUE.update(ERRORS)


def default_lang() -> str:
    """Language from LC_ALL / LC_MESSAGES / LANG: 'id' for id_*, else 'en'."""
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "id" if value.lower().startswith(("id", "in_")) else "en"
    return "en"


class Messages:
    """Looks up catalogue entries in one language."""

    def __init__(self, lang: str | None = None) -> None:
        self.lang = lang if lang in LANGS else default_lang()

    def __call__(self, key: str, **kw: object) -> str:
        """The message `key` in this language, formatted with kw."""
        entry = CATALOGUE[key]
        return entry.get(self.lang, entry["en"]).format(**kw)
