"""The package's systemd units: the agent keeps its status snapshot in RAM (RuntimeDirectory),
the status page runs as its own small, hardened process that may only bind port 80."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEB = ROOT / "packaging" / "deb"


def _verify(unit: Path, tmp: Path) -> None:
    """systemd-analyze verify, with ExecStart pointed at /bin/true (no package installed)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze missing (make deps)")
    copy = tmp / unit.name
    copy.write_text("\n".join("ExecStart=/bin/true" if ln.startswith("ExecStart=") else ln
                              for ln in unit.read_text().splitlines()) + "\n")
    proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(copy)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


def test_agent_unit_gives_the_snapshot_a_ram_directory(tmp_path: Path) -> None:
    for unit in (DEB / "kotanet-agent.service", ROOT / "firmware_configs" /
                 "kotanet-agent.service.tmpl"):
        text = unit.read_text()
        assert "\nRuntimeDirectory=kotanet\n" in text and "\nRuntimeDirectoryMode=0755\n" in text


def test_statuspage_unit_is_small_hardened_and_verifies(tmp_path: Path) -> None:
    unit = DEB / "kotanet-statuspage.service"
    text = unit.read_text()
    for line in ("ExecStart=/usr/bin/kotanet-agent statuspage --config /etc/kotanet/agent.toml",
                 "User=kotanet", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE", "NoNewPrivileges=true",
                 "ProtectSystem=strict", "MemoryDenyWriteExecute=true", "MemoryMax=64M"):
        assert f"\n{line}\n" in text, line
    assert "CAP_NET_ADMIN" not in text and "CAP_NET_RAW" not in text
    _verify(unit, tmp_path)
    for script in ("postinst", "prerm", "postrm"):
        assert "kotanet-statuspage.service" in (DEB / script).read_text(), script
