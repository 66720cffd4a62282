"""Reason codes with English and Indonesian text for the NOC (params let the UI re-translate)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from central.policy.model import Reason

TEMPLATES: dict[str, tuple[str, str]] = {
    "within_contract": ("within contract, no throttle needed",
                        "sesuai kontrak, tidak perlu pembatasan"),
    "share": ("share of upstream {upstream} during {period}: {down}/{up} kbps",
              "bagian upstream {upstream} saat {period_id}: {down}/{up} kbps"),
    "event": ("public event '{event}' in the park gets a larger share",
              "acara publik '{event}' di taman mendapat bagian lebih besar"),
    "congestion": ("upstream {upstream} congested (RTT +{rise} ms, loss {loss} %), step {level}",
                   "upstream {upstream} padat (RTT +{rise} ms, loss {loss} %), tahap {level}"),
    "crowded": ("{users} users: each limited to {per_client} kbps",
                "{users} pengguna: masing-masing dibatasi {per_client} kbps"),
    "floor": ("held at the floor of {floor} kbps", "ditahan pada batas bawah {floor} kbps"),
    "override": ("operator override{by} until {until}",
                 "pengaturan manual operator{by} sampai {until}"),
    "offline_hold": ("node offline: last decision kept, not renewed",
                     "node offline: keputusan terakhir dipertahankan, tidak diperbarui"),
}
PERIOD_ID = {"office_hours": "jam kantor", "evening": "malam", "weekend": "akhir pekan/libur"}
PERIOD_EN = {"office_hours": "office hours", "evening": "evening", "weekend": "weekend/holiday"}


def part(code: str, **params: str | int | float) -> tuple[str, dict[str, str | int | float]]:
    """One reason part (code + params), rendered later."""
    return code, dict(params)


def render(parts: Sequence[tuple[str, Mapping[str, str | int | float]]]) -> Reason:
    """Join reason parts: the first part's code is the primary code, all params are kept."""
    if not parts:
        parts = [part("within_contract")]
    en, id_, params = [], [], {}
    for code, p in parts:
        fmt = {**p, "period_id": PERIOD_ID.get(str(p.get("period", "")), ""),
               "period": PERIOD_EN.get(str(p.get("period", "")), p.get("period", ""))}
        tmpl_en, tmpl_id = TEMPLATES[code]
        en.append(tmpl_en.format(**fmt))
        id_.append(tmpl_id.format(**fmt))
        params.update({f"{code}.{k}": v for k, v in p.items()})
    return Reason(parts[0][0], params, "; ".join(en), "; ".join(id_))
