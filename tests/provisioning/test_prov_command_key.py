"""The command-signing key: init creates it, build puts its public key into every bundle (and
creates it, logged, in an older deployment), a rotation's next key goes in too."""

from __future__ import annotations

import logging
import stat
import tomllib
from pathlib import Path

import pytest
from provhelp import SAMPLE, make_deployment

from agent.config import load_config
from central.commands.signer import load_private, public_raw
from protocol.signing import b64url, key_id_of
from provisioning.cli import main as cli_main
from provisioning.deployment import make_next_command_key


def _bundle_keys(dep_root: Path) -> list[dict[str, str]]:
    out = []
    for toml in sorted((dep_root / "bundles" / "nodes").glob("*/etc/kotanet/agent.toml")):
        cfg = load_config(toml)  # the agent's own strict loader accepts it
        assert cfg.commands.require_signed is True
        out.append(dict(tomllib.loads(toml.read_text())["commands"]["keys"]))
    assert out, "no bundles built"
    return out


def test_init_makes_a_separate_command_key_and_build_ships_its_public_key(
        tmp_path: Path) -> None:
    dep = make_deployment(tmp_path)
    key = dep.pki / "command.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes() != (dep.pki / "signing.key").read_bytes()
    raw = public_raw(load_private(key))
    assert (dep.pki / "command.pub").read_text().strip() == b64url(raw)
    assert all(k == {key_id_of(raw): b64url(raw)} for k in _bundle_keys(dep.root))


def test_build_creates_the_key_in_an_older_deployment_and_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dep = make_deployment(tmp_path, build=False)
    (dep.pki / "command.key").unlink()
    (dep.pki / "command.pub").unlink()
    with caplog.at_level(logging.WARNING, "provisioning"):
        assert cli_main(["--lang", "en", "-d", str(dep.root), "build", str(SAMPLE)]) == 0
    assert "created the command-signing key k-" in caplog.text
    assert "BEGIN" not in caplog.text  # never the key itself
    raw = public_raw(load_private(dep.pki / "command.key"))
    assert all(key_id_of(raw) in k for k in _bundle_keys(dep.root))


def test_a_rotation_next_key_is_shipped_alongside(tmp_path: Path) -> None:
    dep = make_deployment(tmp_path, build=False)
    next_id = make_next_command_key(dep)
    assert stat.S_IMODE((dep.pki / "command.next.key").stat().st_mode) == 0o600
    assert cli_main(["--lang", "en", "-d", str(dep.root), "build", str(SAMPLE)]) == 0
    for keys in _bundle_keys(dep.root):
        assert len(keys) == 2 and next_id in keys
