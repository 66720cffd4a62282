"""The install-check page's rendering: one self-contained page (templates/install/), large on a
phone, with the facts of central.noc.install.facts."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from central.noc.i18n import age, wib_long
from central.noc.render import other_lang, translator
from central.noc.templating import render

#: Sent with every answer of /install/...: never cached, no scripts, no framing, no referrer.
FIXED_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; "
                                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _context(lang: str, **extra: Any) -> dict[str, Any]:
    other = other_lang(lang)
    return {"lang": lang, "other_lang": other, "t": translator(lang),
            "t_other": translator(other), **extra}


def _state(value: bool | None) -> str:
    """A yes/no fact's row state: ok, bad, or '' when not known."""
    return "" if value is None else "ok" if value else "bad"


def page_html(request: web.Request, f: dict[str, Any], lang: str, now_ms: int) -> str:
    """The install check of one node from its facts (central.noc.install.facts)."""
    seen = f["last_seen_ms"]
    ups = f["uplinks_up"]
    return render(request, "install/check.html", _context(
        lang, f=f, online_state=_state(f["online"]),
        match_state=_state(f["config_hash_match"]),
        seen=None if seen is None else {"when": wib_long(int(seen), lang),
                                        "age": age(int(seen), now_ms, lang)},
        up_state="" if not ups else "ok" if any(u["up"] for u in ups) else "bad"))


def not_found(request: web.Request, lang: str) -> str:
    """The one 404 page of every unknown or malformed node id (it names no id)."""
    return render(request, "install/message.html", _context(lang, key="install.not_found"))


def rate_limited(request: web.Request, lang: str) -> str:
    """The 429 page."""
    return render(request, "install/message.html", _context(lang, key="install.limited"))
