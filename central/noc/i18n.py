"""Bahasa Indonesia and English: the message catalogue (messages.json), language choice, WIB time."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

LANGS: tuple[str, ...] = ("id", "en")
DEFAULT_LANG = "id"
LANG_COOKIE = "kt_lang"
WIB = timezone(timedelta(hours=7), "WIB")  # Asia/Jakarta: UTC+7 all year, no DST

#: key -> (Bahasa Indonesia, English), from messages.json; {name} placeholders are filled by t().
CATALOG: dict[str, tuple[str, str]] = {
    key: (pair[0], pair[1]) for key, pair in json.loads(
        (Path(__file__).parent / "messages.json").read_text(encoding="utf-8")).items()}

JS_KEYS = [k for k in CATALOG if k.split(".")[0] in (
    "state", "offline_for", "online_for", "live", "col", "role", "chart", "cmd", "tile", "map",
    "budget",
    "incidents", "maint")]  # incidents, maint: issue 16


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


def wib_long(ms: int, lang: str) -> str:
    """A UTC epoch-ms as a WIB date with the month's short name, e.g. '07 Des 2026 20:01 WIB'."""
    dt = datetime.fromtimestamp(ms / 1000, UTC).astimezone(WIB)
    month = t(lang, "install.months").split()[dt.month - 1]
    return f"{dt.day:02d} {month} {dt.year} {dt.strftime('%H:%M')} WIB"


def age(ms: int, now_ms: int, lang: str) -> str:
    """How long ago ms was, in the largest whole unit, e.g. '5 menit lalu' / '5 min ago'."""
    s = max(0, (now_ms - ms) // 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size and (unit != "s" or s >= 5):
            return t(lang, f"age.{unit}", n=s // size)
    return t(lang, "age.now")
