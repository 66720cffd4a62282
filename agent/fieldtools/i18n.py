"""Bahasa Indonesia and English for the on-site tools: language choice, texts, numbers, times.

Indonesian is the technicians' language and the status page's default. ``t(lang, key, **kw)``
formats one text; a key missing from the catalogues is a bug (KeyError in tests). Numbers use
the decimal comma in Indonesian. The texts live in ``texts.json`` beside this module.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

LANGS = ("id", "en")

#: the catalogue (texts.json, shipped as package data): key -> [Bahasa Indonesia, English]
_CATALOGUE = json.loads((Path(__file__).with_name("texts.json")).read_text(encoding="utf-8"))
TEXTS: dict[str, tuple[str, str]] = {k: (v[0], v[1]) for k, v in _CATALOGUE["texts"].items()}
#: the LED pattern's English parts (agent/policy/leds.py) in Indonesian
LED_TEXT_ID: dict[str, str] = dict(_CATALOGUE["led_text_id"])
#: the selftest's check names, details, reasons and fix hints
SELFTEST_TEXTS: dict[str, tuple[str, str]] = {
    k: (v[0], v[1]) for k, v in _CATALOGUE["selftest"].items()}


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
