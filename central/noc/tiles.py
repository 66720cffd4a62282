"""The map tile URL setting: strict validation (it ends up in the CSP header) and its origin."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_HOST = re.compile(r"[A-Za-z0-9.-]+")
_FORBIDDEN = frozenset(";,\"'`\\<>")


class TileUrlError(ValueError):
    """A tile URL that must not be used; the message says why."""


def check_tile_url(url: str) -> str:
    """Return url if it is a safe tile template ('' = no tiles), else raise TileUrlError.

    http(s) only, a hostname of [A-Za-z0-9.-] (Leaflet's "{s}" allowed), an optional port, no
    user info, and no whitespace, control characters, quotes, ';', ',', '\\', '<' or '>'.
    """
    if url == "":
        return url
    bad = [c for c in url if c in _FORBIDDEN or not c.isprintable() or c.isspace()
           or not c.isascii()]
    if bad:
        raise TileUrlError(f"tile URL contains a forbidden character {bad[0]!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise TileUrlError("tile URL must start with http:// or https://")
    if "@" in parts.netloc:
        raise TileUrlError("tile URL must not contain user info ('@')")
    host = parts.hostname or ""
    if not _HOST.fullmatch(host.replace("{s}", "a")):
        raise TileUrlError("tile URL host must be letters, digits, '.', '-' (and '{s}')")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise TileUrlError("tile URL has an invalid port") from None
    return url


def tile_origin(url: str) -> str:
    """The CSP source of a valid tile URL ("{s}" becomes "*"); '' if empty or invalid."""
    try:
        if not check_tile_url(url):
            return ""
    except TileUrlError:
        return ""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"
