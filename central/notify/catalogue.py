"""The notification texts in English and Bahasa Indonesia, from catalogue.toml (not code)."""

from __future__ import annotations

import tomllib
from collections import defaultdict
from functools import cache
from importlib import resources
from typing import Any

LANGS: tuple[str, ...] = ("en", "id")


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """Every message by language and key (read once from the package's catalogue.toml)."""
    raw = resources.files("central.notify").joinpath("catalogue.toml").read_text("utf-8")
    data = tomllib.loads(raw)
    missing = set(data["en"]) ^ set(data["id"])
    if missing:
        raise RuntimeError(f"catalogue.toml: keys not in both languages: {sorted(missing)}")
    return data


def text(lang: str, msg: str, /, **fields: Any) -> str:
    """Message ``msg`` in ``lang`` with its {fields} filled ('?' for a missing field)."""
    table = catalogue()[lang if lang in LANGS else "en"]
    template = table.get(msg, msg)
    return template.format_map(defaultdict(lambda: "?", {k: _fmt(v) for k, v in fields.items()}))


def _fmt(v: Any) -> str:
    if v is None:
        return "?"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def title(cause: dict[str, Any], lang: str) -> str:
    """An incident's root-cause line from its cause fields."""
    out = text(lang, str(cause.get("key", "")), **cause)
    if cause.get("offline"):
        out += " " + text(lang, "offline_suffix", **cause)
    if cause.get("suppressed"):
        out += " " + text(lang, "suppressed", **cause)
    if cause.get("flaps"):
        out += " " + text(lang, "flapping", **cause)
    return out


def incident_message(inc: dict[str, Any], state: str, lang: str,
                     base_url: str) -> tuple[str, str, str]:
    """(subject, body, link) of one incident notification in ``lang``."""
    sev = text(lang, f"severity_{inc['severity']}")
    subject = text(lang, f"state_{state}", severity=sev, id=inc["id"])
    members = inc.get("members") or []
    node = inc.get("node") or (members[0]["node"] if members else "")
    link = f"{base_url.rstrip('/')}/noc/nodes/{node}" if node else base_url
    body = "\n".join([subject, title(inc["cause"], lang),
                      text(lang, "members", count=len(members), site=inc["site"]),
                      text(lang, "link", url=link)])
    return subject, body, link
