"""Texts of `kotanet-agent selftest` in Bahasa Indonesia and English: check names, details,
reasons and fix hints. Values in {braces} are language-neutral (addresses, numbers, names)."""

from __future__ import annotations

#: key -> (Bahasa Indonesia, English)
TEXTS: dict[str, tuple[str, str]] = {
    # check names
    "c.iface": ("Antarmuka {iface} ({role})", "Interface {iface} ({role})"),
    "role.uplink": ("jalur {name}", "uplink {name}"), "role.lan": ("LAN/Wi-Fi", "LAN/Wi-Fi"),
    "c.route": ("Rute bawaan", "Default route"),
    "c.dns": ("DNS", "DNS"),
    "c.uplink": ("Jalur {name} sampai ke internet", "Uplink {name} reaches the internet"),
    "c.broker_tcp": ("Broker TCP {host}:{port}", "Broker TCP {host}:{port}"),
    "c.broker_tls": ("Broker TLS", "Broker TLS"),
    "c.broker_login": ("Masuk ke broker sebagai {user}", "Broker login as {user}"),
    "c.broker_creds": ("Kredensial broker", "Broker credentials"),
    "c.clock": ("Jam tersinkron (NTP)", "Clock synchronised (NTP)"),
    "c.disk": ("Ruang kartu SD", "SD card space"),
    "c.sd_write": ("Tulis-baca kartu SD", "SD card write and read"),
    "c.hostapd": ("hostapd (Wi-Fi) menjawab", "hostapd (Wi-Fi) answers"),
    "c.dnsmasq": ("dnsmasq (DHCP/DNS) menjawab", "dnsmasq (DHCP/DNS) answers"),
    "c.opennds": ("openNDS (portal) menjawab", "openNDS (portal) answers"),
    "c.gpio": ("GPIO (LED, tombol)", "GPIO (LEDs, button)"),
    # details
    "d.iface_ok": ("{addr}, kabel/sinyal ada", "{addr}, link up"),
    "d.iface_missing": ("tidak ada", "does not exist"),
    "d.iface_admin_down": ("dinonaktifkan", "administratively down"),
    "d.iface_no_carrier": ("tanpa kabel/sinyal", "no carrier"),
    "d.iface_no_addr": ("tanpa alamat IPv4", "no IPv4 address"),
    "d.route_ok": ("ke {target} lewat {uplink} ({iface}), {via}",
                   "to {target} via {uplink} ({iface}), {via}"),
    "d.next_hop": ("melalui {gw}", "next hop {gw}"),
    "d.direct": ("langsung", "direct"),
    "d.route_none": ("tidak ada rute ke {target}: {why}", "no route to {target}: {why}"),
    "d.route_other": ("ke {target} keluar lewat {iface}, bukan lewat jalur",
                      "to {target} leaves by {iface}, not by an uplink"),
    "d.dns_ok": ("{name} → {addr} ({ms} ms)", "{name} → {addr} ({ms} ms)"),
    "d.dns_fail": ("{name} tidak bisa diterjemahkan: {why}", "{name} does not resolve: {why}"),
    "d.dns_ip": ("alamat broker berupa IP, DNS tidak diperlukan",
                 "the broker is an IP address, no DNS needed"),
    "d.reach_ok": ("{got}/{sent} balasan, RTT {rtt} ms", "{got}/{sent} replies, RTT {rtt} ms"),
    "d.reach_none": ("tidak ada balasan dari {targets} ({sent} percobaan): {why}",
                     "no reply from {targets} ({sent} attempts): {why}"),
    "d.tcp_ok": ("tersambung dalam {ms} ms", "connected in {ms} ms"),
    "d.tcp_fail": ("{why}", "{why}"),
    "d.tls_ok": ("{version}, sertifikat sah sampai {until}",
                 "{version}, certificate valid until {until}"),
    "d.tls_fail": ("{why}", "{why}"),
    "d.not_tls": ("broker tanpa TLS: mqtt://", "broker without TLS: mqtt://"),
    "d.login_ok": ("diterima", "accepted"),
    "d.login_fail": ("ditolak: kode {code}", "refused: code {code}"),
    "d.login_timeout": ("broker tidak menjawab dalam {s} detik",
                        "the broker did not answer within {s} seconds"),
    "d.skipped_after": ("dilewati karena cek sebelumnya gagal",
                        "skipped because the check before failed"),
    "d.config_bad": ("{key} di agent.toml tidak bisa dipakai", "{key} in agent.toml is unusable"),
    "d.clock_ok": ("jam {t}", "clock reads {t}"),
    "d.clock_fail": ("belum tersinkron, jam {t}", "not synchronised, clock reads {t}"),
    "d.disk": ("{free} MB bebas ({pct} %) di {path}", "{free} MB free ({pct} %) on {path}"),
    "d.disk_ro": ("{path} hanya-baca", "{path} is read-only"),
    "d.sd_ok": ("{kb} KiB ditulis dan dibaca ulang dalam {ms} ms",
                "{kb} KiB written and read back in {ms} ms"),
    "d.sd_slow": ("lambat: {ms} ms untuk {kb} KiB", "slow: {ms} ms for {kb} KiB"),
    "d.sd_fail": ("gagal: {why}", "failed: {why}"),
    "d.sd_mismatch": ("data yang dibaca ulang berbeda", "the data read back differs"),
    "d.sockets_ok": ("{n} soket menjawab", "{n} socket(s) answer"),
    "d.socket_fail": ("{path}: {why}", "{path}: {why}"),
    "d.no_sockets": ("tidak ada soket di {paths}", "no socket in {paths}"),
    "d.not_configured": ("tidak dipakai di node ini", "not used on this node"),
    "d.lan_dns_ok": ("menjawab di {addr}:53 ({ms} ms)", "answers on {addr}:53 ({ms} ms)"),
    "d.lan_dns_fail": ("{addr}:53: {why}", "{addr}:53: {why}"),
    "d.no_lan_addr": ("{iface} tanpa alamat IPv4", "{iface} has no IPv4 address"),
    "d.answers": ("menjawab", "answers"),
    "d.cmd_fail": ("{cmd}: {why}", "{cmd}: {why}"),
    "d.gpio_ok": ("pin {pins} ({factory})", "pins {pins} ({factory})"),
    "d.gpio_fail": ("tidak ada perangkat keras GPIO", "no GPIO hardware"),
    # reasons
    "err.timeout": ("waktu habis", "timed out"), "err.refused": ("ditolak", "refused"),
    "err.unreachable": ("tidak terjangkau", "unreachable"),
    "err.perm": ("tidak diizinkan", "not permitted"), "err.missing": ("tidak ditemukan",
                                                                      "not found"),
    "err.cert": ("sertifikat tidak sah", "certificate not valid"),
    "err.name": ("nama sertifikat tidak cocok", "certificate name does not match"),
    "err.tls": ("jabat tangan TLS gagal", "TLS handshake failed"),
    "err.nxdomain": ("nama tidak dikenal", "unknown name"),
    "err.rc": ("kode keluar {rc}", "exit code {rc}"),
    "err.bad_reply": ("jawaban tidak dikenal", "unexpected answer"),
    "err.other": ("galat {name}", "error {name}"),
    # hints
    "h.iface_missing": (
        "Cocokkan nama antarmuka di /etc/kotanet/agent.toml dengan `ip link`; untuk LTE: "
        "modem/USB terpasang?",
        "Compare the interface name in /etc/kotanet/agent.toml with `ip link`; for LTE: is "
        "the modem/USB plugged in?"),
    "h.lan_missing": (
        "LAN/Wi-Fi tidak ada: salin ulang bundel node (network-config, hostapd) lalu nyalakan "
        "ulang.",
        "The LAN/Wi-Fi interface is missing: copy the node bundle (network-config, hostapd) "
        "again and reboot."),
    "h.iface_admin_down": (
        "Nyalakan dengan `sudo ip link set {iface} up`, lalu periksa konfigurasi jaringan.",
        "Bring it up with `sudo ip link set {iface} up`, then check the network configuration."),
    "h.iface_no_carrier": (
        "Colokkan ulang kabel (lampu port menyala?); untuk LTE: modem menyala, SIM terpasang "
        "dan ada kuota?",
        "Re-plug the cable (port light on?); for LTE: modem powered, SIM inserted, quota left?"),
    "h.iface_no_addr": (
        "Tidak dapat alamat dari router/modem ISP: nyalakan ulang modem, periksa kabel ke modem.",
        "No address from the ISP router/modem: power-cycle the modem, check the cable to it."),
    "h.lan_no_addr": (
        "LAN tanpa alamat tetap: salin ulang bundel node (network-config) lalu nyalakan ulang.",
        "The LAN has no fixed address: copy the node bundle (network-config) again and reboot."),
    "h.no_route": (
        "Belum ada rute ke internet: jalur belum dapat alamat; `sudo systemctl restart "
        "kotanet-agent` setelah jalur baik.",
        "No route to the internet yet: no uplink has an address; `sudo systemctl restart "
        "kotanet-agent` once an uplink works."),
    "h.route_other": (
        "Rute keluar bukan lewat jalur: periksa `ip route` dan `ip rule` (agen memakai tabel "
        "100).",
        "Traffic does not leave by an uplink: check `ip route` and `ip rule` (the agent uses "
        "table 100)."),
    "h.dns": (
        "DNS gagal: periksa /etc/resolv.conf dan jalur internet; coba `getent hosts {name}`.",
        "DNS fails: check /etc/resolv.conf and the uplinks; try `getent hosts {name}`."),
    "h.uplink": (
        "Jalur tersambung tetapi internet tidak sampai: periksa modem/SIM (kuota) atau hubungi "
        "ISP; agen pindah ke jalur lain sendiri.",
        "The uplink is connected but the internet is not reached: check the modem/SIM (quota) "
        "or call the ISP; the agent moves to another uplink by itself."),
    "h.needs_root": ("Jalankan sebagai root: `sudo kotanet-agent selftest`.",
                     "Run it as root: `sudo kotanet-agent selftest`."),
    "h.broker_tcp": (
        "Broker tidak terjangkau: periksa jalur di atas; bila jalur baik, port {port} diblokir "
        "ISP atau broker mati: hubungi NOC.",
        "The broker cannot be reached: check the uplinks above; if they work, the ISP blocks "
        "port {port} or the broker is down: call the NOC."),
    "h.tls_cert": (
        "Sertifikat broker tidak sah: jam node salah (lihat cek jam) atau /etc/kotanet/ca.crt "
        "bukan dari pusat ini.",
        "The broker's certificate is not valid: the node's clock is wrong (see the clock "
        "check) or /etc/kotanet/ca.crt is not from this central."),
    "h.tls_other": ("TLS gagal: periksa alamat dan port broker di agent.toml (mqtts://).",
                    "TLS fails: check the broker's address and port in agent.toml (mqtts://)."),
    "h.login": (
        "Broker menolak kredensial node: node dicabut atau kata sandinya dirotasi; minta NOC "
        "memeriksa (panduan lapangan bagian 7).",
        "The broker refuses the node's credentials: the node was revoked or its password "
        "rotated; ask the NOC (field guide section 7)."),
    "h.login_other": ("Masuk ke broker gagal: hubungi NOC dan sebutkan kode di atas.",
                      "The broker login fails: call the NOC with the code above."),
    "h.config": ("Periksa dengan `kotanet-agent --config /etc/kotanet/agent.toml --check`.",
                 "Check it with `kotanet-agent --config /etc/kotanet/agent.toml --check`."),
    "h.clock": (
        "Jam belum tersinkron: perlu internet ke server NTP; periksa `timedatectl` (TLS gagal "
        "bila tanggal salah).",
        "The clock is not synchronised: it needs the internet to reach NTP; check "
        "`timedatectl` (TLS fails while the date is wrong)."),
    "h.disk": (
        "Kartu SD hampir penuh: periksa `df -h` dan `du -sh /var/lib/kotanet`.",
        "The SD card is nearly full: check `df -h` and `du -sh /var/lib/kotanet`."),
    "h.sd": (
        "Kartu SD rusak atau lambat: ganti kartu SD dan tulis ulang dengan "
        "`kotanet-provision sdcard`.",
        "The SD card is failing or slow: replace it and write it again with "
        "`kotanet-provision sdcard`."),
    "h.hostapd": ("Wi-Fi mati: `sudo systemctl restart hostapd`, lalu `journalctl -u hostapd`.",
                  "Wi-Fi is down: `sudo systemctl restart hostapd`, then `journalctl -u hostapd`."),
    "h.dnsmasq": ("DHCP/DNS mati: `sudo systemctl restart dnsmasq`, lalu "
                  "`journalctl -u dnsmasq`.",
                  "DHCP/DNS is down: `sudo systemctl restart dnsmasq`, then "
                  "`journalctl -u dnsmasq`."),
    "h.opennds": ("Portal mati: `sudo systemctl restart opennds`, lalu `journalctl -u opennds`.",
                  "The portal is down: `sudo systemctl restart opennds`, then "
                  "`journalctl -u opennds`."),
    "h.gpio": (
        "GPIO tidak terbaca: node ini bukan Raspberry Pi atau paket python3-lgpio belum "
        "terpasang; LED dan tombol tidak bekerja.",
        "No GPIO: this is not a Raspberry Pi or python3-lgpio is not installed; LEDs and the "
        "button do not work."),
    # output
    "hint": ("Petunjuk", "Hint"),
    "skip": ("tidak berlaku", "not applicable"),
    "summary_ok": ("Semua {n} pemeriksaan lulus ({skipped} tidak berlaku).",
                   "All {n} checks passed ({skipped} not applicable)."),
    "summary_fail": ("{failed} dari {n} pemeriksaan gagal ({skipped} tidak berlaku).",
                     "{failed} of {n} checks failed ({skipped} not applicable)."),
    "title": ("Pemeriksaan node {node} ({site})", "Self-test of node {node} ({site})"),
}
