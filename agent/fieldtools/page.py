"""The status page's HTML: the status view's rows, big and high-contrast for a phone outdoors.

Every value goes through ``e()`` (html.escape), no script at all, and a
``<meta http-equiv=refresh>`` reloads the page. Levels are shown as words and symbols as well
as colours, so the page reads in sunlight and for colour-blind technicians.
"""

from __future__ import annotations

from html import escape

from agent.fieldtools.i18n import t
from agent.fieldtools.view import View

MARK = {"ok": "✓", "warn": "!", "bad": "✗", "info": ""}

CSS = """
*{box-sizing:border-box}
body{margin:0;font:20px/1.35 system-ui,-apple-system,"DejaVu Sans",sans-serif;
background:#fff;color:#000}
header{padding:14px 16px;background:#000;color:#fff}
h1{font-size:1.25em;margin:0}
.lang{color:#fff;float:right;font-size:.9em}
.head{margin:12px;padding:16px;border:4px solid #000;border-radius:10px;font-size:1.3em;
font-weight:700}
.head.ok{background:#c8f7c5}.head.warn{background:#ffe066}.head.bad{background:#ff8a8a}
section{margin:12px;border:2px solid #000;border-radius:10px;overflow:hidden}
h2{margin:0;padding:8px 12px;font-size:1.1em;background:#e6e6e6;border-bottom:2px solid #000}
table{width:100%;border-collapse:collapse}
td{padding:8px 12px;border-top:1px solid #999;vertical-align:top}
tr:first-child td{border-top:0}
td.l{width:42%;font-weight:600}
td.v{font-size:1.05em;overflow-wrap:anywhere}
tr.ok td.v{color:#064d00}tr.warn td.v{background:#fff3b0}tr.bad td.v{background:#ffd0d0;
color:#7a0000;font-weight:700}
.m{display:inline-block;min-width:1.2em;font-weight:700}
footer{margin:12px 16px 24px;font-size:.85em;color:#333}
@media (min-width:900px){main{display:grid;grid-template-columns:1fr 1fr}}
"""

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")


def e(value: object) -> str:
    """HTML-escape any value (None shows as an empty string)."""
    return "" if value is None else escape(str(value), quote=True)


def render_page(view: View, lang: str, refresh_s: int) -> str:
    """The whole page for a view (language switch link, auto refresh every refresh_s)."""
    other = "en" if lang == "id" else "id"
    parts = [
        f'<!doctype html><html lang="{e(lang)}"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f'<meta http-equiv="refresh" content="{int(refresh_s)}">',
        '<meta name="robots" content="noindex">',
        f"<title>{e(view.title)}</title><style>{CSS}</style></head><body>",
        f'<header><a class="lang" href="/?lang={other}">{e(t(lang, "other_lang"))}</a>',
        f"<h1>{e(view.title)}</h1></header>",
        f'<div id="headline" class="head {e(view.level)}">'
        f'<span class="m">{e(MARK[view.level])}</span> {e(view.headline)}</div><main>',
    ]
    for sec in view.sections:
        rows = "".join(
            f'<tr class="{e(r.level)}"><td class="l">{e(r.label)}</td><td class="v">'
            f'<span class="m">{e(MARK[r.level])}</span> {e(r.value)}</td></tr>'
            for r in sec.rows)
        parts.append(f'<section id="{e(sec.key)}"><h2>{e(sec.title)}</h2>'
                     f"<table>{rows}</table></section>")
    parts.append(f'</main><footer>{e(t(lang, "refresh", s=refresh_s))}</footer></body></html>')
    return "".join(parts)
