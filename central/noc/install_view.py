"""The HTML of the install-check page: one self-contained, escaped page, large on a phone."""

from __future__ import annotations

from typing import Any

from central.noc.html import e
from central.noc.i18n import age, t, wib_long

#: Sent with every answer of /install/...: never cached, no scripts, no framing, no referrer.
FIXED_HEADERS: dict[str, str] = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; "
                                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}

CSS = """
*{box-sizing:border-box}
body{margin:0;font:20px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:#fff;color:#111}
main{max-width:36rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;margin:.2rem 0 1rem}
dl{margin:0}
.row{border:2px solid #ccc;border-radius:.6rem;padding:.6rem .8rem;margin:0 0 .8rem}
.row.ok{border-color:#1a7f37;background:#eaf7ee}.row.bad{border-color:#b3261e;background:#fdecea}
dt{font-size:1rem;color:#333}dt small{display:block;color:#666;font-size:.85rem}
dd{margin:.2rem 0 0;font-size:1.6rem;font-weight:700;overflow-wrap:anywhere}
dd small{display:block;font-size:1rem;font-weight:400;color:#333}
ul{list-style:none;margin:0;padding:0}li{overflow-wrap:anywhere}
.lang{font-size:1.1rem;display:inline-block;padding:.6rem 0}
"""


def _other(lang: str) -> str:
    return "en" if lang == "id" else "id"


def _frame(lang: str, title: str, body: str, switch_href: str | None) -> str:
    """The whole page: escaped title, the body (already escaped), a language link."""
    switch = (f'<a class="lang" lang="{_other(lang)}" href="{e(switch_href)}">'
              f'{e(t(lang, "install.other_lang"))}</a>') if switch_href else ""
    return (f'<!doctype html><html lang="{e(lang)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="robots" content="noindex"><title>{e(title)}</title>'
            f'<style>{CSS}</style></head><body><main><h1>{e(title)}</h1>{body}{switch}'
            f'</main></body></html>')


def _row(lang: str, key: str, value: str, state: str = "") -> str:
    """One fact: the label in the page's language, the other language's label below it."""
    return (f'<div class="row {e(state)}" id="{e(key.split(".")[-1])}"><dt>'
            f'{e(t(lang, key))}<small lang="{_other(lang)}">{e(t(_other(lang), key))}</small>'
            f'</dt><dd>{value}</dd></div>')


def _yes_no(lang: str, value: bool | None) -> tuple[str, str]:
    """The escaped answer and its row state for True / False / None (not known)."""
    if value is None:
        return e(t(lang, "install.unknown")), ""
    return e(t(lang, "yes" if value else "no").capitalize()), "ok" if value else "bad"


def page_html(f: dict[str, Any], lang: str, now_ms: int) -> str:
    """The install check of one node from its facts (central.noc.install.facts)."""
    online, online_state = _yes_no(lang, f["online"])
    match, match_state = _yes_no(lang, f["config_hash_match"])
    seen = f["last_seen_ms"]
    seen_html = e(t(lang, "install.never")) if seen is None else (
        f'{e(wib_long(int(seen), lang))}<small>{e(age(int(seen), now_ms, lang))}</small>')
    ups = f["uplinks_up"]
    items = "".join(f'<li>{e(u["name"])}: {e(t(lang, "install.up" if u["up"] else "install.down"))}'
                    f'</li>' for u in ups)
    up_html = f"<ul>{items}</ul>" if ups else e(t(lang, "install.no_uplinks"))
    up_state = "" if not ups else "ok" if any(u["up"] for u in ups) else "bad"
    body = ("<dl>" + _row(lang, "install.node", e(f["node"]))
            + _row(lang, "install.online", online, online_state)
            + _row(lang, "install.last_seen", seen_html)
            + _row(lang, "install.hash", match, match_state)
            + _row(lang, "install.uplinks", up_html, up_state) + "</dl>")
    return _frame(lang, t(lang, "install.title"), body, f"?lang={_other(lang)}")


def not_found(lang: str) -> str:
    """The one 404 page of every unknown or malformed node id (it names no id)."""
    return _frame(lang, t(lang, "install.title"),
                  f'<p role="alert">{e(t(lang, "install.not_found"))}</p>', None)


def rate_limited(lang: str) -> str:
    """The 429 page."""
    return _frame(lang, t(lang, "install.title"),
                  f'<p role="alert">{e(t(lang, "install.limited"))}</p>', None)
