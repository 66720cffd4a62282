"""Wi-Fi rules for Indonesia (country code ID) and what each Raspberry Pi board can do."""

from __future__ import annotations

from dataclasses import dataclass

COUNTRY = "ID"

# Allowed channels in Indonesia (RLAN, class permit, "akses tipe 1"):
#   Peraturan Menteri Kominfo No. 2 Tahun 2023 tentang Penggunaan Spektrum Frekuensi Radio
#   Berdasarkan Izin Kelas, amended by Peraturan Menteri Komdigi No. 2 Tahun 2025
#   (https://jdih.komdigi.go.id/produk_hukum/view/id/949), as encoded in wireless-regdb
#   db.txt "country ID" (patch "Update regulatory info for Indonesia (ID) for 2025"):
#     2400-2483.5 MHz @40, 500 mW          -> channels 1-13
#     5150-5350 MHz @160, 200 mW, NO-OUTDOOR -> channels 36-64 (indoor only)
#     5725-5825 MHz @80, 200 mW, NO-OUTDOOR  -> channels 149-161 (165 would reach 5835 MHz)
#   Parks are outdoor installations, so they get 2.4 GHz only; offices may use 5 GHz.
CHANNELS_24 = frozenset(range(1, 14))
CHANNELS_5_INDOOR = frozenset({36, 40, 44, 48, 52, 56, 60, 64, 149, 153, 157, 161})


@dataclass(frozen=True)
class Board:
    """A supported Raspberry Pi model."""

    name: str
    has_5ghz: bool
    has_header: bool = True


BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("pi3b", has_5ghz=False),
    Board("pi3b+", has_5ghz=True),
    Board("pizero2w", has_5ghz=False),
    Board("pi4", has_5ghz=True),
    Board("pi400", has_5ghz=True),
    Board("pi5", has_5ghz=True),
    Board("cm4", has_5ghz=True),
    Board("cm5", has_5ghz=True),
)}

#: BCM GPIO numbers usable on the 40-pin header (0 and 1 are the HAT ID EEPROM bus).
GPIO_RANGE = range(2, 28)


def channel_problem(channel: int, outdoor: bool, board: Board | None) -> str | None:
    """None if the channel is allowed, else a catalogue code explaining why not."""
    if channel in CHANNELS_24:
        return None
    if channel in CHANNELS_5_INDOOR:
        if outdoor:
            return "e_channel_outdoor"
        if board is not None and not board.has_5ghz:
            return "e_channel_board"
        return None
    return "e_channel_country"


def hw_mode(channel: int) -> str:
    """hostapd hw_mode for a channel: 'g' for 2.4 GHz, 'a' for 5 GHz."""
    return "g" if channel in CHANNELS_24 else "a"
