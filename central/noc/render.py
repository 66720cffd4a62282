"""Pages in the NOC layout: the request's language, the context every template gets, rendering.

The markup lives in ``templates/`` (``base.html`` is the layout); this module only gathers
values: the language and its translation function ``t``, the navigation of the user's role,
the CSRF token of the page's forms and the ``boot`` data of the page's scripts.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from aiohttp import web

from central.api.auth import role_at_least
from central.noc.cookies import PRE_COOKIE, new_secret, set_cookie
from central.noc.i18n import LANG_COOKIE, js_catalog, pick_lang, t
from central.noc.store import LoginSession
from central.noc.templating import render

#: (path, catalogue key, least role) of the navigation, in order.
NAV = [("/noc/", "nav.fleet", "viewer"),
       ("/noc/incidents", "incidents.nav", "viewer"),  # issue 16
       ("/noc/budget", "nav.budget", "viewer"),
       ("/noc/users", "nav.users", "admin"), ("/noc/audit", "nav.audit", "admin"),
       ("/noc/settings", "nav.settings", "admin")]


def lang_of(request: web.Request) -> str:
    """The language of this request: cookie, else Accept-Language, else Indonesian."""
    return pick_lang(request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language"))


def other_lang(lang: str) -> str:
    """The language the switch offers."""
    return "en" if lang == "id" else "id"


def translator(lang: str) -> partial[str]:
    """``t(key, **placeholders)`` in one language, for templates."""
    return partial(t, lang)


def nav_links(sess: LoginSession | None, path: str) -> list[dict[str, Any]]:
    """The navigation entries the user's role may open, the current one marked."""
    if sess is None:
        return []
    return [{"href": href, "key": key, "current": path == href}
            for href, key, role in NAV if role_at_least(sess.user.role, role)]


def page(request: web.Request, template: str, title: str, sess: LoginSession | None,
         scripts: Iterable[str] = (), styles: Iterable[str] = (), data: Any = None,
         status: int = 200, pre: str | None = None, **context: Any) -> web.Response:
    """A template in the NOC layout, in the request's language, with the role's navigation.

    Without a session the page's forms use the double-submit token ``pre`` (default: the
    request's pre-login cookie, else a new one), set as that cookie on the response.
    """
    lang = lang_of(request)
    token = sess.csrf if sess else (pre or request.cookies.get(PRE_COOKIE) or new_secret())
    boot = {"lang": lang, "t": js_catalog(lang), "csrf": sess.csrf if sess else None,
            "role": sess.user.role if sess else None, **(data or {})}
    ctx = {"lang": lang, "other_lang": other_lang(lang), "t": translator(lang), "title": title,
           "sess": sess, "nav": nav_links(sess, request.path), "token": token,
           "here": request.path_qs, "styles": [*styles, "noc.css"], "scripts": list(scripts),
           "boot": boot, **context}
    resp = web.Response(text=render(request, template, ctx), content_type="text/html",
                        charset="utf-8", status=status)
    if sess is None:
        set_cookie(resp, request, PRE_COOKIE, token)
    return resp
