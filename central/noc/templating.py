"""The NOC's Jinja2 environment (through aiohttp-jinja2): templates/ of this package, autoescape on.

Every page of the NOC and the install check is a template in ``central/noc/templates/``; views
hand them plain values and a translation function, never markup. Autoescaping is on for every
template, ``None`` prints as an empty string, and ``tojson`` writes central's strict JSON with
``<``, ``>``, ``&`` and ``'`` escaped (safe inside a ``<script type="application/json">``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from central.api.jsonout import dumps
from central.noc.i18n import wib

#: The app key of the NOC's environment (its own, so another aiohttp_jinja2 user cannot clash).
TEMPLATES = web.AppKey("noc_templates", jinja2.Environment)


def _finalize(value: Any) -> Any:
    """Like the old ``e()``: None shows as an empty string."""
    return "" if value is None else value


@jinja2.pass_context
def _wib_filter(ctx: jinja2.runtime.Context, ms: int | None, with_date: bool = True) -> str:
    """``{{ ms|wib }}``: wib() in the page's language (its ``lang``, else Indonesian)."""
    return wib(ms, with_date, str(ctx.get("lang") or "id"))


def make_env(app: web.Application) -> jinja2.Environment:
    """The NOC's template environment, registered on app under TEMPLATES."""
    env = aiohttp_jinja2.setup(
        app, app_key=TEMPLATES, loader=jinja2.PackageLoader("central.noc", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined, finalize=_finalize,
        trim_blocks=True, lstrip_blocks=True, default_helpers=False,
        filters={"wib": _wib_filter})
    env.policies["json.dumps_function"] = dumps
    env.policies["json.dumps_kwargs"] = {"separators": (",", ":"), "sort_keys": False}
    return env


def setup_templates(app: web.Application) -> jinja2.Environment:
    """The app's NOC template environment, created on first use (NOC and install check)."""
    if TEMPLATES in app:
        return app[TEMPLATES]
    return make_env(app)


def render(request: web.Request, name: str, context: Mapping[str, Any]) -> str:
    """A template of the NOC rendered to text."""
    return aiohttp_jinja2.render_string(name, request, context, app_key=TEMPLATES)
