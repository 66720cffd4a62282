"""Selftest network checks: interfaces, default route, DNS, each uplink, broker TCP/TLS/login.

Reachability of an uplink goes through that uplink with the agent's own link probe (bound to
the device, its source address and mark), so a dead backup is found even while the primary
carries the default route. The broker login uses the node's credentials with a client id of
its own (``kotanet-<node>-selftest``): the running agent's session is not disturbed.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from typing import Any

from agent import netlink
from agent.config import UplinkSection
from agent.fieldtools.checks import Check, Msg, failed, msg, passed, skipped, why
from agent.probes.link import LinkProbe
from agent.transport.url import BrokerTarget

TCP_TIMEOUT_S = 3.0
TLS_TIMEOUT_S = 5.0
LOGIN_TIMEOUT_S = 5.0
DNS_TIMEOUT_S = 5.0
AUTH_REFUSED = (134, 135)  # MQTT 5: bad user name or password, not authorized


def interface(iface: str, role: Msg, lan: bool = False) -> Check:
    """The interface exists, is up, has carrier and an IPv4 address."""
    name = msg("c.iface", iface=iface, role=role)
    st = netlink.link_state(iface)
    if not st.exists:
        return failed(name, msg("d.iface_missing"),
                      msg("h.lan_missing" if lan else "h.iface_missing"))
    if not st.admin_up:
        return failed(name, msg("d.iface_admin_down"), msg("h.iface_admin_down", iface=iface))
    if not st.carrier:
        return failed(name, msg("d.iface_no_carrier"), msg("h.iface_no_carrier"))
    addrs = netlink.addresses(iface)
    if not addrs:
        return failed(name, msg("d.iface_no_addr"),
                      msg("h.lan_no_addr" if lan else "h.iface_no_addr"))
    return passed(name, msg("d.iface_ok", addr=", ".join(addrs)))


def default_route(uplinks: list[UplinkSection]) -> Check:
    """Traffic to the primary uplink's first probe target leaves by some uplink."""
    name = msg("c.route")
    if not uplinks:
        return skipped(name, msg("d.not_configured"))
    target = uplinks[0].targets[0]
    try:
        got = netlink.iproute().route("get", dst=target)
    except Exception as exc:  # pyroute2's NetlinkError carries the errno as .code
        code = getattr(exc, "code", None)
        reason = why(OSError(code, "")) if isinstance(code, int) else why(exc)
        return failed(name, msg("d.route_none", target=target, why=reason), msg("h.no_route"))
    oif = got[0].get("oif") if got else None
    by_index = {netlink.ifindex(u.iface): u for u in uplinks}
    up = by_index.get(oif)
    if up is None:
        dev = next((n for i, n in socket.if_nameindex() if i == oif), str(oif))
        return failed(name, msg("d.route_other", target=target, iface=dev), msg("h.route_other"))
    gw = got[0].get("gateway")
    via = msg("d.next_hop", gw=gw) if gw else msg("d.direct")
    return passed(name, msg("d.route_ok", target=target, uplink=up.name, iface=up.iface,
                            via=via))


def dns(host: str) -> Check:
    """The broker's host name resolves (skipped when it is an IP address)."""
    name = msg("c.dns")
    try:
        ipaddress.ip_address(host)
        return skipped(name, msg("d.dns_ip"))
    except ValueError:
        pass
    box: dict[str, Any] = {}

    def lookup() -> None:
        try:
            box["ok"] = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:
            box["err"] = exc

    t0 = time.monotonic()
    th = threading.Thread(target=lookup, daemon=True, name="selftest-dns")
    th.start()
    th.join(DNS_TIMEOUT_S)  # getaddrinfo cannot be cancelled; a hung lookup is left behind
    if "ok" in box:
        ms = round((time.monotonic() - t0) * 1000)
        return passed(name, msg("d.dns_ok", name=host, addr=box["ok"][0][4][0], ms=ms))
    reason = why(box["err"]) if "err" in box else msg("err.timeout")
    return failed(name, msg("d.dns_fail", name=host, why=reason), msg("h.dns", name=host))


def uplink(up: UplinkSection) -> Check:
    """One probe round through this uplink only: at least one reply from a target."""
    name = msg("c.uplink", name=up.name)
    try:
        rnd = LinkProbe(up).run_round()
    except PermissionError as exc:
        return failed(name, msg("d.reach_none", targets=", ".join(up.targets), sent=0,
                                why=why(exc)), msg("h.needs_root"))
    except OSError as exc:
        return failed(name, msg("d.reach_none", targets=", ".join(up.targets), sent=0,
                                why=why(exc)), msg("h.uplink"))
    got = sorted(r for v in rnd.rtts.values() for r in v if r is not None)
    sent = sum(len(v) for v in rnd.rtts.values())
    if got:
        return passed(name, msg("d.reach_ok", got=len(got), sent=sent,
                                rtt=round(got[len(got) // 2], 1)))
    errs = set(rnd.errors)
    reason = msg("err.unreachable") if "unreachable" in errs else msg(
        "err.perm") if any("not permitted" in e for e in errs) else msg("err.timeout")
    hint = msg("h.needs_root") if reason.key == "err.perm" else msg("h.uplink")
    return failed(name, msg("d.reach_none", targets=", ".join(up.targets), sent=sent,
                            why=reason), hint)


def broker_tcp(t: BrokerTarget) -> Check:
    """A TCP connection to the broker opens within TCP_TIMEOUT_S."""
    name = msg("c.broker_tcp", host=t.host, port=t.port)
    t0 = time.monotonic()
    try:
        with socket.create_connection((t.host, t.port), timeout=TCP_TIMEOUT_S):
            pass
    except OSError as exc:
        return failed(name, msg("d.tcp_fail", why=why(exc)),
                      msg("h.broker_tcp", port=t.port))
    return passed(name, msg("d.tcp_ok", ms=round((time.monotonic() - t0) * 1000, 1)))


def tls_context(t: BrokerTarget) -> ssl.SSLContext:
    """The TLS context the agent's session would use (CA file, client certificate)."""
    ctx = ssl.create_default_context(cafile=t.ca_file)
    if t.cert_file:
        ctx.load_cert_chain(t.cert_file, t.key_file)
    return ctx


def broker_tls(t: BrokerTarget, tcp_ok: bool) -> Check:
    """The TLS handshake succeeds and the broker's certificate verifies."""
    name = msg("c.broker_tls")
    if not t.tls:
        return skipped(name, msg("d.not_tls"))
    if not tcp_ok:
        return skipped(name, msg("d.skipped_after"))
    try:
        ctx = tls_context(t)
        with socket.create_connection((t.host, t.port), timeout=TLS_TIMEOUT_S) as raw, \
                ctx.wrap_socket(raw, server_hostname=t.host) as tls:
            version, cert = tls.version(), tls.getpeercert() or {}
    except ssl.SSLCertVerificationError as exc:
        return failed(name, msg("d.tls_fail", why=why(exc)), msg("h.tls_cert"))
    except OSError as exc:
        return failed(name, msg("d.tls_fail", why=why(exc)), msg("h.tls_other"))
    until = cert.get("notAfter")
    day = time.strftime("%Y-%m-%d", time.gmtime(ssl.cert_time_to_seconds(str(until)))) \
        if until else "?"
    return passed(name, msg("d.tls_ok", version=version, until=day))


def broker_login(t: BrokerTarget, node: str, reachable: bool) -> Check:
    """MQTT 5 CONNECT with the node's credentials gets a successful CONNACK."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    name = msg("c.broker_login", user=t.username)
    if not reachable:
        return skipped(name, msg("d.skipped_after"))
    answer: dict[str, int] = {}
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"kotanet-{node}-selftest",
                    protocol=mqtt.MQTTv5)
    c.username_pw_set(t.username, t.password)
    if t.tls:
        c.tls_set_context(tls_context(t))

    def on_connect(client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
        answer.setdefault("rc", int(rc.value))

    c.on_connect = on_connect
    try:
        c.connect(t.host, t.port, keepalive=10, clean_start=True)
        deadline = time.monotonic() + LOGIN_TIMEOUT_S
        while "rc" not in answer and time.monotonic() < deadline:
            c.loop(timeout=0.2)
    except OSError as exc:
        return failed(name, msg("d.tls_fail", why=why(exc)), msg("h.login_other"))
    finally:
        if answer.get("rc") == 0:
            c.disconnect()
            c.loop(timeout=0.1)  # let the DISCONNECT leave
        sock = c.socket()
        if sock is not None:
            sock.close()
    if "rc" not in answer:
        return failed(name, msg("d.login_timeout", s=LOGIN_TIMEOUT_S), msg("h.login_other"))
    if answer["rc"] == 0:
        return passed(name, msg("d.login_ok"))
    code = answer["rc"]
    return failed(name, msg("d.login_fail", code=code),
                  msg("h.login" if code in AUTH_REFUSED else "h.login_other"))
