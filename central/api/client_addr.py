"""The client's address behind trusted reverse proxies (X-Forwarded-For / X-Forwarded-Proto).

Central serves plain HTTP behind a TLS-terminating proxy (nginx, Caddy). The per-address
limits (NOC login, enrolment) and the audit log need the real client, not the proxy. Only
when the TCP peer is inside ``[http] trusted_proxies`` is ``X-Forwarded-For`` read, from the
right: the proxy appends the address it saw, so entries are skipped while they are trusted
proxies themselves and the first untrusted one is the client. Whatever a client writes into
the left part of the header is never reached unless every hop to its right is trusted.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from aiohttp import web

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Trusted = tuple[Network, ...]

#: The parsed ``[http] trusted_proxies`` of the app (absent = none: X-Forwarded-* ignored).
TRUSTED_PROXIES = web.AppKey("trusted_proxies", tuple)


def parse_network(value: str) -> Network:
    """One trusted-proxy entry: a CIDR ("10.0.0.0/8", "fd00::/8") or a single address.

    Raises ValueError with a readable message (host bits set, not an address, ...)."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise ValueError(f"{value!r} is not an IP network (expected CIDR like 10.0.0.0/8)")
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP network (expected CIDR like 10.0.0.0/8 "
                         "or an address)") from None
    raise ValueError(f"{text!r} has host bits set (did you mean {loose}?)")


def trusted_networks(values: Iterable[str]) -> Trusted:
    """Parse a list of trusted-proxy entries (ValueError on the first bad one)."""
    return tuple(parse_network(v) for v in values)


def _address(text: str) -> Address | None:
    """A plain IPv4/IPv6 address (IPv4-mapped IPv6 folded to IPv4), else None."""
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _is_trusted(addr: Address, trusted: Trusted) -> bool:
    return any(addr.version == net.version and addr in net for net in trusted)


def peer_trusted(peer: str | None, trusted: Trusted) -> bool:
    """True if the TCP peer address lies inside a trusted-proxy network."""
    if not trusted or not peer:
        return False
    addr = _address(peer)
    return addr is not None and _is_trusted(addr, trusted)


def client_address(peer: str | None, xff_header: str | None, trusted: Trusted) -> str:
    """The client address: ``peer`` unless it is a trusted proxy that sent X-Forwarded-For.

    Walks the comma-separated header from the right, skipping trusted proxies; the first
    untrusted entry is the client (if every entry is trusted, the leftmost one). A malformed
    entry reached on the way makes the answer the peer address (logged at debug)."""
    fallback = peer or "?"
    if not xff_header or not xff_header.strip() or not peer_trusted(peer, trusted):
        return fallback
    client: Address | None = None
    for raw in reversed(xff_header.split(",")):
        addr = _address(raw)
        if addr is None:
            log.debug("X-Forwarded-For %r from %s: malformed entry %r, using the peer address",
                      xff_header[:200], peer, raw.strip()[:64])
            return fallback
        client = addr
        if not _is_trusted(addr, trusted):
            break
    return str(client) if client is not None else fallback


def forwarded_https(peer: str | None, proto_header: str | None, trusted: Trusted) -> bool:
    """True if a trusted proxy says the client used HTTPS (X-Forwarded-Proto: https)."""
    if not proto_header or not peer_trusted(peer, trusted):
        return False
    return proto_header.split(",")[0].strip().lower() == "https"


def trusted_of(request: web.Request) -> Trusted:
    """The trusted-proxy networks of the request's app (empty when not configured)."""
    value = request.config_dict.get(TRUSTED_PROXIES, ())
    return value if isinstance(value, tuple) else ()


def client_ip(request: web.Request) -> str:
    """The request's client address (X-Forwarded-For only from trusted proxies)."""
    trusted = trusted_of(request)
    if not trusted:
        return request.remote or "?"
    xff = ",".join(request.headers.getall("X-Forwarded-For", []))
    return client_address(request.remote, xff, trusted)


def request_forwarded_https(request: web.Request) -> bool:
    """True if a trusted proxy forwarded this request from an HTTPS client."""
    return forwarded_https(request.remote, request.headers.get("X-Forwarded-Proto"),
                           trusted_of(request))
