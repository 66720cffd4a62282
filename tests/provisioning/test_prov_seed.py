"""sdcard seeds (cloud-init NoCloud / custom.toml) on a real FAT card image."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest
from cardhelp import FatCard, files_on, ssh_public_key
from provhelp import make_deployment, node_password

from provisioning.cli import main
from provisioning.deployment import Deployment
from provisioning.seed import CLOUD_INIT, CUSTOM_TOML, detect_os
from provisioning.tokens import UsedTokens, redeem_token


@pytest.fixture(scope="module")
def dep(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    return make_deployment(tmp_path_factory.mktemp("seed"))


def boot_dir(tmp_path: Path, *files: str, issue: str | None = None) -> Path:
    boot = tmp_path / "bootfs"
    boot.mkdir(parents=True)
    for f in ("cmdline.txt", "config.txt", *files):
        (boot / f).write_text("")
    if issue is not None:
        (boot / "issue.txt").write_text(issue)
    return boot


def sdcard(dep: Deployment, node: str, boot: Path, *extra: str) -> int:
    return main(["--lang", "en", "-d", str(dep.root), "sdcard", node, "--boot", str(boot),
                 *(extra or ("--no-ssh",))])


def all_text(boot: Path) -> str:
    return "\n".join(files_on(boot).values())


def test_os_detection_rule(tmp_path: Path) -> None:
    assert detect_os(boot_dir(tmp_path / "a", "user-data", "meta-data", "network-config")) == CLOUD_INIT
    trixie = "Raspberry Pi reference 2025-10-01\nGenerated using pi-gen, stage2, trixie\n"
    assert detect_os(boot_dir(tmp_path / "b", issue=trixie)) == CLOUD_INIT
    bookworm = "Raspberry Pi reference 2024-11-19\nGenerated using pi-gen, stage2, bookworm\n"
    assert detect_os(boot_dir(tmp_path / "c", issue=bookworm)) == CUSTOM_TOML
    (tmp_path / "d").mkdir()
    assert detect_os(tmp_path / "d") is None


def test_a_fat_card_without_boot_files_is_refused_unless_os_is_given(
        dep: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FatCard(tmp_path, files={}) as boot:
        assert sdcard(dep, "tks-01", boot) == 1
        assert files_on(boot) == {}
        assert "--os trixie or --os bookworm" in capsys.readouterr().out
        assert sdcard(dep, "tks-01", boot, "--os", "trixie", "--no-ssh") == 0
        assert set(files_on(boot)) == {"user-data", "meta-data", "network-config"}


def test_cloud_init_seed_passes_schema_and_holds_only_the_token(
        dep: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = ssh_public_key(tmp_path / "ssh")
    with FatCard(tmp_path, files={"user-data": "", "meta-data": "",
                                  "network-config": ""}) as card:
        assert sdcard(dep, "bupati-01", card, "--ssh-key", str(key)) == 0
        boot = tmp_path / "copy"
        boot.mkdir()
        for name, text in files_on(card).items():
            (boot / name).write_text(text)
    assert "(cloud-init, Raspberry Pi OS Trixie)" in capsys.readouterr().out
    proc = subprocess.run(["cloud-init", "schema", "--config-file", str(boot / "user-data")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # network-config v2, parsed by cloud-init's own network state code
    check = ("import sys, yaml; from cloudinit.net.network_state import parse_net_config_data; "
             "ns = parse_net_config_data(yaml.safe_load(open(sys.argv[1]))); "
             "print(sorted((i['name'], i['type'], [(s.get('address'), s.get('prefix')) for s in i['subnets']]) "
             "for i in ns.iter_interfaces()))")
    out = subprocess.run(["/usr/bin/python3", "-c", check, str(boot / "network-config")],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert "('br0', 'bridge', [('10.30.1.1', 24)])" in out
    assert "('eth0', 'physical'" in out and "('eth1', 'physical'" in out
    # the only secret is the token: no MQTT password, Wi-Fi passphrase or private key
    text = all_text(boot)
    assert node_password(dep, "bupati-01") not in text
    assert "ganti-sandi-ini-2026" not in text and "PRIVATE KEY" not in text
    user_data = (boot / "user-data").read_text()
    assert key.read_text().split()[1] in user_data  # the technician's way in
    token = user_data.split("kte1.", 1)[1].split()[0]
    claims = redeem_token(dep.read("signing.pub"), "kte1." + token, UsedTokens(tmp_path / "u.json"))
    assert claims["node"] == "bupati-01"


def test_cloud_init_schema_check_catches_mistakes(tmp_path: Path) -> None:
    bad = tmp_path / "user-data"
    bad.write_text("#cloud-config\nusers:\n  - name: teknisi\n    lock_passwd: maybe\n")
    proc = subprocess.run(["cloud-init", "schema", "--config-file", str(bad)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0


def test_each_seed_gets_a_fresh_instance_id_and_token(dep: Deployment, tmp_path: Path) -> None:
    seen = set()
    with FatCard(tmp_path, files={"user-data": ""}) as boot:
        for _ in range(2):
            assert sdcard(dep, "tks-01", boot) == 0
            seen.add(((boot / "meta-data").read_text(), (boot / "user-data").read_text()))
    assert len({m for m, _ in seen}) == 2 and len({u for _, u in seen}) == 2


def test_bookworm_gets_custom_toml_and_token_file(dep: Deployment, tmp_path: Path) -> None:
    key = ssh_public_key(tmp_path / "ssh")
    with FatCard(tmp_path) as card:
        assert sdcard(dep, "tks-02", card, "--ssh-key", str(key)) == 0
        boot = tmp_path / "copy"
        for name, text in files_on(card).items():
            (boot / name).parent.mkdir(parents=True, exist_ok=True)
            (boot / name).write_text(text)
    custom = tomllib.loads((boot / "custom.toml").read_text())
    assert custom["ssh"]["enabled"] is True and custom["ssh"]["password_authentication"] is False
    assert custom["ssh"]["authorized_keys"] == [key.read_text().strip()]
    assert custom["config_version"] == 1 and custom["system"]["hostname"] == "tks-02"
    assert custom["user"]["password_encrypted"] is True
    assert custom["user"]["password"].startswith("$6$")
    assert custom["locale"]["timezone"] == "Asia/Jakarta"
    token = (boot / "kotanet/enroll.token").read_text().strip()
    claims = redeem_token(dep.read("signing.pub"), token, UsedTokens(tmp_path / "u.json"))
    assert claims["node"] == "tks-02"
    enroll = json.loads((boot / "kotanet/enroll.json").read_text())
    assert enroll["config_hash"] == json.loads(dep.manifest_path.read_text())["nodes"]["tks-02"][
        "config_hash"]
    assert node_password(dep, "tks-02") not in all_text(boot)
