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
    "budget", "fmt",
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


def wib(ms: int | None, with_date: bool = True, lang: str = DEFAULT_LANG) -> str:
    """A UTC epoch-ms as local Sampit time: the NOC's one date format, '07 Des 2026 20:01 WIB'
    (English: '07 Dec 2026 20:01 WIB'), or '20:01 WIB' without the date; None as '—'."""
    if ms is None:
        return "—"
    dt = datetime.fromtimestamp(ms / 1000, UTC).astimezone(WIB)
    if not with_date:
        return dt.strftime("%H:%M WIB")
    month = t(lang, "fmt.months").split()[dt.month - 1]
    return f"{dt.day:02d} {month} {dt.year} {dt.strftime('%H:%M')} WIB"


def wib_long(ms: int, lang: str) -> str:
    """wib() with the date, in a language (the install check's name for it)."""
    return wib(ms, True, lang)


def age(ms: int, now_ms: int, lang: str) -> str:
    """How long ago ms was, in the largest whole unit, e.g. '5 menit lalu' / '5 min ago'."""
    s = max(0, (now_ms - ms) // 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size and (unit != "s" or s >= 5):
            return t(lang, f"age.{unit}", n=s // size)
    return t(lang, "age.now")


def num(value: float | None, lang: str, decimals: int = 1, group: bool = True) -> str:
    """A number in the language's format: '1.234,5' (id) or '1,234.5' (en); None as '—'.

    The one formatter of the NOC's tables, CSV files and reports: the value is rounded once
    (to ``decimals``) by the caller's computation and only its separators depend on the
    language. ``group=False`` leaves out the thousands separator (CSV cells)."""
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}" if group else f"{value:.{decimals}f}"
    if text in ("-0", "-0.0", "-0.00"):
        text = text[1:]
    if lang == "id":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


class NumberError(ValueError):
    """A form field that is not a number (the message is a catalogue key)."""


def parse_num(raw: str, integer: bool = False) -> float:
    """A number typed in either language: '-2,5583', '-2.5583', '1.500.000', 'Rp 1,500,000'.

    With both separators the last one is the decimal mark; one comma alone is a decimal
    comma; a separator that repeats, or (``integer``) is followed by exactly three digits,
    groups thousands. Spaces, a leading 'Rp' and the minus sign U+2212 are accepted."""
    text = raw.strip().replace("\u2212", "-").replace("\u00a0", "").replace(" ", "")
    if text[:2].lower() == "rp":
        text = text[2:]
    sign = ""
    if text[:1] in ("+", "-"):
        sign, text = ("-" if text[0] == "-" else ""), text[1:]
    if not text or not all(c.isdigit() or c in ",." for c in text) or not text[0].isdigit():
        raise NumberError("form.not_number")
    commas, dots = text.count(","), text.count(".")
    if commas and dots:
        dec = "," if text.rfind(",") > text.rfind(".") else "."
        grp = "." if dec == "," else ","
        if text.count(dec) > 1:
            raise NumberError("form.not_number")
        text = text.replace(grp, "").replace(dec, ".")
    elif commas or dots:
        sep = "," if commas else "."
        count = commas or dots
        tail = text.rsplit(sep, 1)[1]
        grouping = count > 1 or (integer and len(tail) == 3)
        if grouping:
            parts = text.split(sep)
            if any(len(p) != 3 for p in parts[1:]) or not 1 <= len(parts[0]) <= 3:
                raise NumberError("form.not_number")
            text = text.replace(sep, "")
        else:
            text = text.replace(sep, ".")
    value = float(sign + text)
    if integer and value != int(value):
        raise NumberError("form.not_integer")
    return value
