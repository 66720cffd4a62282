"""Technician-facing texts in Bahasa Indonesia (first) and English.

The catalogues are TOML files next to this module (one table per message key, with ``id`` and
``en``); argparse's own texts ("usage:", "options", its error messages) are translated through
the ``[argparse]`` table of ``i18n_help.toml`` while a parser runs (`argparse_language`).
Times shown to technicians are in WIB (Asia/Jakarta), Sampit's time zone.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

LANGS = ("id", "en")
CATALOGUE_FILES = ("i18n_messages.toml", "i18n_inventory.toml", "i18n_verify.toml",
                   "i18n_help.toml")
_HERE = Path(__file__).resolve().parent


def _load() -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    catalogue: dict[str, dict[str, str]] = {}
    argparse_id: dict[str, str] = {}
    for name in CATALOGUE_FILES:
        data = tomllib.loads((_HERE / name).read_text(encoding="utf-8"))
        argparse_id.update(data.pop("argparse", {}))
        for key, entry in data.items():
            if key in catalogue:
                raise KeyError(f"message {key!r} defined twice ({name})")
            catalogue[key] = dict(entry)
    return catalogue, argparse_id


#: {key: {"id": text, "en": text}} of every message, help text and field name.
CATALOGUE, ARGPARSE_ID = _load()


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
        return CATALOGUE[key][self.lang].format(**kw)


try:
    from zoneinfo import ZoneInfo

    WIB: dt.tzinfo = ZoneInfo("Asia/Jakarta")
except (ImportError, KeyError):  # no tz database: WIB has had no daylight saving since 1964
    WIB = dt.timezone(dt.timedelta(hours=7), "WIB")


def wib(ts: float) -> str:
    """A Unix time as 'YYYY-MM-DD HH:MM WIB' (Western Indonesian Time, UTC+7)."""
    return dt.datetime.fromtimestamp(ts, WIB).strftime("%Y-%m-%d %H:%M") + " WIB"


def wib_date(ts: float) -> str:
    """A Unix time as the WIB calendar date 'YYYY-MM-DD'."""
    return dt.datetime.fromtimestamp(ts, WIB).strftime("%Y-%m-%d")


@contextlib.contextmanager
def argparse_language(lang: str) -> Iterator[None]:
    """While the block runs, argparse prints its own texts (usage, errors) in `lang`.

    argparse looks its texts up through the module-level names ``_`` and ``ngettext`` (gettext)
    at the moment it prints them; they are swapped for the catalogue and restored afterwards.
    """
    if lang != "id":
        yield
        return
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]

    def gettext(text: str) -> str:
        return ARGPARSE_ID.get(text, text)

    def ngettext(one: str, many: str, n: int) -> str:
        return gettext(one if n == 1 else many)

    setattr(argparse, "_", gettext)  # noqa: B010 (a module global, not an attribute)
    setattr(argparse, "ngettext", ngettext)  # noqa: B010
    try:
        yield
    finally:
        setattr(argparse, "_", saved[0])  # noqa: B010
        setattr(argparse, "ngettext", saved[1])  # noqa: B010
