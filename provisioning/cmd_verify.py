"""verify NODE: the on-site check, with progress while waiting and one fix per ✗."""

from __future__ import annotations

import argparse
import logging
import sys
import tomllib
from typing import Any, TextIO

from provisioning import rotation
from provisioning.cmdutil import EXIT_NO_CONNECT, EXIT_OK, EXIT_REFUSED, deployment, node_entry
from provisioning.deployment import Deployment, DeploymentError
from provisioning.i18n import Messages
from provisioning.verify import FAIL, INFO, OK, SKIP, WARN, Check, Expectation, Progress
from provisioning.verifyconn import Target, VerifyError, run_verify

log = logging.getLogger(__name__)

MARKS = {OK: "✓", FAIL: "✗", WARN: "⚠", SKIP: "–", INFO: "·"}
QUIET_EVERY_S = 10  # without a terminal, one progress line this often


class ProgressLine:
    """Shows what has arrived while verify waits: redrawn each second on a terminal; else a
    line when something new arrived, and every 10 s."""

    def __init__(self, m: Messages, node: str, timeout_s: float,
                 stream: TextIO | None = None) -> None:
        self.m, self.node, self.timeout = m, node, timeout_s
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.last_quiet = -float(QUIET_EVERY_S)
        self.last: Progress | None = None
        self.drawn = False

    def __call__(self, elapsed: float, p: Progress) -> None:
        """Report one snapshot (called about once a second)."""
        if not self.tty and p == self.last and elapsed - self.last_quiet < QUIET_EVERY_S:
            return
        self.last = p
        m = self.m
        online = m("w_yes") if p.online else (m("w_offline") if p.online is False else "–")
        birth = ("✓" if p.matched else (m("w_other_hash", got=p.birth_hash) if p.birth_hash
                                         else "–"))
        line = m("verify_wait", node=self.node, elapsed=int(elapsed), timeout=f"{self.timeout:g}",
                 online=online, birth=birth, tele="✓" if p.tele else "–")
        if self.tty:
            self.stream.write("\r\x1b[2K" + line)
            self.drawn = True
        else:
            self.stream.write(line + "\n")
            self.last_quiet = elapsed
        self.stream.flush()

    def close(self) -> None:
        """End a redrawn line."""
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _ifaces(dep: Deployment, entry: dict[str, Any]) -> dict[str, str]:
    try:
        agent = tomllib.loads((dep.bundle(entry) / "etc/kotanet/agent.toml").read_text())
    except (OSError, ValueError):
        return {}
    return {str(u.get("name")): str(u.get("iface")) for u in agent.get("uplinks", [])}


def _target(dep: Deployment, a: argparse.Namespace, url: str) -> Target:
    pw_file = a.password_file or dep.secrets / f"{a.user}.password"
    if not pw_file.is_file():
        raise DeploymentError("verify_no_password", file=pw_file, user=a.user)
    client = None
    if dep.settings.auth == "cert":
        client = (str(dep.secrets / f"{a.user}.crt"), str(dep.secrets / f"{a.user}.key"))
    return Target(url, a.user, pw_file.read_text().strip(), str(a.ca or dep.pki / "ca.crt"),
                  client)


def print_check(m: Messages, c: Check) -> None:
    """One checklist line, and its fix on the next line when it has one."""
    suffix = f" {m('optional')}" if not c.required and c.status in (FAIL, WARN) else ""
    print(f"  {MARKS[c.status]} {m(c.key, **c.params)}{suffix}")
    if c.hint and c.status in (FAIL, WARN):
        print(f"      → {m(c.hint, **c.hint_params)}")


def verify(m: Messages, a: argparse.Namespace) -> int:
    """verify NODE [--mqtt-url URL] [--timeout S]; broker and CA from the deployment."""
    dep = deployment(a)
    entry = node_entry(dep, a.node)
    s = dep.settings
    url = a.mqtt_url or f"mqtts://{s.broker_host}:{s.broker_port}"
    print(m("verify_title", node=a.node, url=url, timeout=f"{a.timeout:g}"))
    if entry.get("revoked"):
        print(f"  ✗ {m('c_revoked', node=a.node)}\n      → {m('c_revoked_fix', node=a.node)}")
        return EXIT_REFUSED
    pending = entry.get("pending_user")
    exp = Expectation(a.node, str(entry["site"]), str(entry["config_hash"]),
                      [str(u) for u in entry["uplinks"]], _ifaces(dep, entry),
                      entry.get("previous_config_hash") if pending else None,
                      entry.get("files_hash"))
    progress = ProgressLine(m, a.node, a.timeout)
    try:
        checks = run_verify(exp, _target(dep, a, url), s.topic_prefix, a.timeout, progress)
    except VerifyError as exc:
        progress.close()
        params = {"host": "", "port": "", "user": a.user, "node": a.node, "url": url,
                  "broker": s.broker_host, **exc.params}
        print(m("mqtt_failed", url=url))
        print(f"  ✗ {m(exc.code, **params)}\n      → {m(exc.code + '_fix', **params)}")
        return EXIT_NO_CONNECT
    progress.close()
    for c in checks:
        print_check(m, c)
    ok = all(c.ok for c in checks if c.required)
    hash_ok = any(c.key == "chk_hash" and c.status == OK for c in checks)
    if pending and hash_ok and not dep.is_fieldkit:
        rotation.record_seen(dep, a.node, str(pending), exp.config_hash)
        print(m("verify_rotation_seen", node=a.node, user=pending))
    print(m("verify_pass" if ok else "verify_fail", node=a.node))
    return EXIT_OK if ok else EXIT_REFUSED
