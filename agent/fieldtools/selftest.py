"""`kotanet-agent selftest`: one line per check with ✓/✗ and a fix hint; exit = failures.

The checks run one after another, each bounded by its own timeout (about 20 s in all on a
node whose broker does not answer). The order follows the path of a measurement: the node's
configuration, interfaces, routing, DNS, each uplink, the broker, then the node itself.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from typing import IO, Any

from agent import netlink
from agent.config import AgentConfig, ConfigError, load_config
from agent.fieldtools import checks as ck
from agent.fieldtools import checks_net as net
from agent.fieldtools.checks import Check, Msg, msg
from agent.fieldtools.i18n import SELFTEST_TEXTS as TEXTS
from agent.fieldtools.i18n import num

MARK = {"ok": "✓", "fail": "✗", "skip": "–"}
MAX_EXIT = 100  # exit status = failed checks, capped (above 100 shells see odd values)


def _value(lang: str, v: object) -> object:
    if isinstance(v, Msg):
        return text(lang, v)
    return num(lang, v) if isinstance(v, float) else v


def text(lang: str, m: Msg) -> str:
    """A Msg in ``lang`` (nested Msgs translated, decimals with a comma in Indonesian)."""
    params = {k: _value(lang, v) for k, v in m.params.items()}
    pair = TEXTS[m.key]
    return (pair[0] if lang == "id" else pair[1]).format(**params)


def lan_iface(cfg: AgentConfig) -> str:
    """The LAN/Wi-Fi interface of this node (shaping's when enabled, else the users one)."""
    return cfg.shaping.lan_iface if cfg.shaping.enabled else (cfg.users.lan_iface or "br0")


def run_checks(cfg: AgentConfig, report: Callable[[Check], None] | None = None) -> list[Check]:
    """Run every check in order; ``report`` sees each result as soon as it is known."""
    from agent.transport.url import resolve_target

    out: list[Check] = []

    def add(c: Check) -> Check:
        out.append(c)
        if report is not None:
            report(c)
        return c

    ups = sorted(cfg.uplinks, key=lambda u: u.priority)
    for up in ups:
        add(net.interface(up.iface, msg("role.uplink", name=up.name)))
    lan = lan_iface(cfg)
    add(net.interface(lan, msg("role.lan"), lan=True))
    add(net.default_route(ups))
    try:
        target = resolve_target(cfg)
        bad_key = ""
    except ConfigError as exc:  # e.g. the password file is readable by root only
        target, found = None, re.search(r"'([a-z_.]+)'", str(exc))
        bad_key = found.group(1) if found else "mqtt"
    add(net.dns(target.host if target else "?") if target else ck.skipped(
        msg("c.dns"), msg("d.skipped_after")))
    for up in ups:
        add(net.uplink(up))
    if target is None:
        add(ck.failed(msg("c.broker_creds"), msg("d.config_bad", key=bad_key),
                      msg("h.needs_root") if os.geteuid() else msg("h.config")))
    else:
        tcp = add(net.broker_tcp(target))
        tls = add(net.broker_tls(target, tcp.ok))
        add(net.broker_login(target, cfg.node.id, tcp.ok and tls.ok))
    add(ck.clock())
    add(ck.disk(cfg.agent.state_dir))
    add(ck.sd_write(cfg.agent.state_dir))
    add(ck.hostapd(cfg))
    add(ck.dnsmasq(cfg, lan))
    add(ck.opennds(cfg))
    add(ck.gpio(cfg))
    netlink.close_iproute()
    return out


def line(lang: str, c: Check) -> str:
    """One output line (plus an indented hint line for a failure)."""
    detail = text(lang, c.detail) if c.status != "skip" else \
        f"{text(lang, msg('skip'))} ({text(lang, c.detail)})"
    out = f"{MARK[c.status]} {text(lang, c.name)}: {detail}"
    if c.hint is not None:
        out += f"\n    → {text(lang, msg('hint'))}: {text(lang, c.hint)}"
    return out


def summary(lang: str, results: list[Check]) -> str:
    """The closing line: how many checks failed (and how many did not apply)."""
    failed = sum(1 for c in results if c.status == "fail")
    skipped = sum(1 for c in results if c.status == "skip")
    key = "summary_fail" if failed else "summary_ok"
    return text(lang, msg(key, failed=failed, n=len(results), skipped=skipped))


def as_json(lang: str, results: list[Check]) -> list[dict[str, Any]]:
    """The results for scripts: key, status, texts in ``lang``."""
    return [{"check": c.name.key, "name": text(lang, c.name), "status": c.status,
             "detail": text(lang, c.detail),
             "hint": text(lang, c.hint) if c.hint is not None else None} for c in results]


def run_selftest(config: str, lang: str, json_out: bool = False,
                 out: IO[str] | None = None) -> int:
    """Load the config, run the checks, print them; returns the number of failures."""
    out = out or sys.stdout
    try:
        cfg = load_config(config)
    except ConfigError as exc:
        print(f"kotanet-agent selftest: {exc}", file=sys.stderr)
        return 1
    if not json_out:
        out.write(text(lang, msg("title", node=cfg.node.id, site=cfg.node.site)) + "\n")

    def show(c: Check) -> None:
        out.write(line(lang, c) + "\n")
        out.flush()

    results = run_checks(cfg, None if json_out else show)
    if json_out:
        out.write(json.dumps({"node": cfg.node.id, "site": cfg.node.site, "lang": lang,
                              "checks": as_json(lang, results)}, ensure_ascii=False,
                             indent=2) + "\n")
    else:
        out.write(summary(lang, results) + "\n")
    return min(MAX_EXIT, sum(1 for c in results if c.status == "fail"))
