"""Applying the node files of an enrolment answer: checked before anything is written, written
only when different (mtimes kept), modes repaired in place, services in dependency order."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from provhelp import make_deployment

from agent import sysexec
from agent.nodeapply import (
    ApplyError,
    applied_hash,
    apply_files,
    parse_files,
    run_plan,
    service_plan,
)
from provisioning.nodefiles import delivery


def entry(path: str, body: bytes = b"x\n", mode: str = "0644", **over: Any) -> dict[str, Any]:
    e = {"path": path, "mode": mode, "group": "root", "sha256": hashlib.sha256(body).hexdigest(),
         "data": base64.b64encode(body).decode()}
    return {**e, **over}


@pytest.mark.parametrize("bad", [
    entry("../etc/passwd"), entry("/etc/shadow"), entry("etc/../root/x"), entry("var/lib/x"),
    entry("etc/x", mode="4755"), entry("etc/x", sha256="0" * 64), entry("etc/x", data="%%"),
    entry("etc/x", b"y" * (256 * 1024 + 1)), {"path": "etc/x"}])
def test_a_bad_entry_refuses_the_whole_delivery(bad: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ApplyError):
        parse_files([entry("etc/ok"), bad])
    assert not (tmp_path / "etc").exists()


def test_apply_is_idempotent_and_repairs_modes_in_place(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path / "dep")
    files = parse_files(delivery(dep.root / "bundles/nodes/tks-01"))
    root = tmp_path / "root"
    changed = apply_files(root, files)
    assert sorted(changed) == sorted(f.path for f in files)
    hostapd = root / "etc/hostapd/hostapd.conf"
    assert hostapd.stat().st_mode & 0o777 == 0o600
    assert (root / "etc/kotanet/agent.toml").stat().st_mode & 0o777 == 0o640
    mtimes = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}
    os.chmod(hostapd, 0o644)  # someone loosened it
    assert apply_files(root, files) == []
    assert hostapd.stat().st_mode & 0o777 == 0o600
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()} == mtimes
    # one file differs: only it is written
    recorded = applied_hash(root / "etc/kotanet")
    assert recorded is not None and len(recorded) == 64
    dns = root / "etc/dnsmasq.d/kotanet.conf"
    dns.write_text("edited by hand\n")
    # what the agent reports now shows the edit (verify: mismatch)
    edited = applied_hash(root / "etc/kotanet")
    assert edited is not None and edited.startswith("modified:") and edited != recorded
    assert apply_files(root, files) == ["etc/dnsmasq.d/kotanet.conf"]
    assert applied_hash(root / "etc/kotanet") == recorded
    assert not list(root.rglob(".*.tmp"))


def test_services_start_in_dependency_order_and_only_changed_ones_restart(
        tmp_path: Path) -> None:
    dep = make_deployment(tmp_path / "dep")
    files = parse_files(delivery(dep.root / "bundles/nodes/tks-01"))  # a park: openNDS too
    plan = [" ".join(c[1:]) for c in service_plan(files, ["etc/hostapd/hostapd.conf"])]
    assert plan == [
        "daemon-reload", "unmask hostapd.service",
        "start systemd-sysctl.service", "start systemd-journald.service",
        "enable nftables.service", "start nftables.service",
        "enable dnsmasq.service", "start dnsmasq.service",
        "enable hostapd.service", "restart hostapd.service",
        "enable opennds.service", "start opennds.service",
        "enable kotanet-agent.service", "--no-block start kotanet-agent.service",
        "enable kotanet-statuspage.service", "--no-block start kotanet-statuspage.service"]
    calls: list[tuple[str, ...]] = []

    def runner(cmd: Sequence[str], timeout: float) -> sysexec.ExecResult:
        calls.append(tuple(cmd))
        return sysexec.ExecResult(tuple(cmd), 1 if "opennds.service" in cmd else 0)

    prev = sysexec.set_runner(runner)
    try:
        failed = run_plan(service_plan(files, []))
    finally:
        sysexec.set_runner(prev)
    assert failed == ["systemctl enable opennds.service", "systemctl start opennds.service"]
    assert calls[-1] == ("systemctl", "--no-block", "start", "kotanet-statuspage.service")
