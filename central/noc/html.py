"""Server-side HTML: the page frame, escaping, forms with CSRF, and the language of a request."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any

from aiohttp import web

from central.api.auth import role_at_least
from central.api.jsonout import dumps
from central.noc.cookies import PRE_COOKIE, new_secret, set_cookie
from central.noc.i18n import LANG_COOKIE, js_catalog, pick_lang, t
from central.noc.store import LoginSession

NAV = [("/noc/", "nav.fleet", "viewer"), ("/noc/budget", "nav.budget", "viewer"),
       ("/noc/users", "nav.users", "admin"), ("/noc/audit", "nav.audit", "admin"),
       ("/noc/settings", "nav.settings", "admin")]


def e(value: object) -> str:
    """HTML-escape any value (None shows as an empty string)."""
    return "" if value is None else escape(str(value), quote=True)


def lang_of(request: web.Request) -> str:
    """The language of this request: cookie, else Accept-Language, else Indonesian."""
    return pick_lang(request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language"))


def csrf_field(token: str) -> str:
    """The hidden CSRF input of a form."""
    return f'<input type="hidden" name="csrf" value="{e(token)}">'


def json_script(element_id: str, data: Any) -> str:
    """Data for the page's scripts, inert (type=application/json), safe inside HTML."""
    text = dumps(data, separators=(",", ":")).replace("<", "\\u003c").replace(
        ">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{e(element_id)}">{text}</script>'


def _nav(lang: str, sess: LoginSession | None, path: str) -> str:
    if sess is None:
        return ""
    links = "".join(
        f'<a href="{href}"{" aria-current=page" if path == href else ""}>{e(t(lang, key))}</a>'
        for href, key, role in NAV if role_at_least(sess.user.role, role))
    return (f'<nav>{links}<span class="who">{e(sess.user.username)} · {e(sess.user.role)}</span>'
            f'<form method="post" action="/noc/logout" class="inline">{csrf_field(sess.csrf)}'
            f'<button type="submit">{e(t(lang, "nav.logout"))}</button></form></nav>')


def page(request: web.Request, title: str, body: str, sess: LoginSession | None,
         scripts: Iterable[str] = (), styles: Iterable[str] = (), data: Any = None,
         status: int = 200, pre: str | None = None) -> web.Response:
    """A whole HTML page in the request's language with the navigation of the user's role.

    Without a session the page's forms use the double-submit token ``pre`` (default: the
    request's pre-login cookie, else a new one), set as that cookie on the response.
    """
    lang = lang_of(request)
    token = sess.csrf if sess else (pre or request.cookies.get(PRE_COOKIE) or new_secret())
    other = "en" if lang == "id" else "id"
    head_css = "".join(f'<link rel="stylesheet" href="/noc/static/{e(s)}">'
                       for s in [*styles, "noc.css"])
    js = "".join(f'<script type="module" src="/noc/static/{e(s)}"></script>' for s in scripts)
    boot = {"lang": lang, "t": js_catalog(lang), "csrf": sess.csrf if sess else None,
            "role": sess.user.role if sess else None, **(data or {})}
    switch = (f'<form method="post" action="/noc/lang" class="inline lang">'
              f'{csrf_field(token)}<input type="hidden" name="lang" value="{other}">'
              f'<input type="hidden" name="next" value="{e(request.path_qs)}">'
              f'<button type="submit" id="lang-switch" lang="{other}">'
              f'{e(t(lang, "lang.switch"))}</button></form>')
    html = (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{e(title)} · {e(t(lang, "app"))}</title>{head_css}</head><body>'
            f'<header><a class="brand" href="/noc/">{e(t(lang, "app"))}</a>'
            f'{_nav(lang, sess, request.path)}{switch}</header>'
            f'<main><h1>{e(title)}</h1>{body}</main>{json_script("boot", boot)}{js}</body></html>')
    resp = web.Response(text=html, content_type="text/html", charset="utf-8", status=status)
    if sess is None:
        set_cookie(resp, request, PRE_COOKIE, token)
    return resp


def table(headers: list[str], rows: Iterable[Iterable[object]], cls: str = "") -> str:
    """A simple escaped HTML table."""
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{e(cls)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def flash(text: str, kind: str = "info") -> str:
    """A status message box (role=status so screen readers announce it)."""
    return f'<p class="flash {e(kind)}" role="status">{e(text)}</p>' if text else ""
