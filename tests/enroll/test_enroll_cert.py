"""Certificate-mode nodes enrol too: the card (cloud-init seed) holds only the token; the
enrolment answer delivers the node's client certificate and key with its other files; the node
then logs in to the real mosquitto with that certificate (CN = node id), without a password."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import yaml
from cardhelp import FatCard
from enrollhelp import HttpsServer, run_enroll
from provhelp import GeneratedBroker, Probe, make_deployment

from central.enroll import setup_enroll
from protocol.nodefiles import files_hash
from provisioning.cli import main as provision
from provisioning.localbroker import free_port
from provisioning.nodefiles import bundle_files

pytestmark = pytest.mark.broker

NODE = "tks-01"
TRIXIE = {"cmdline.txt": "console=tty1\n", "issue.txt": "pi-gen, trixie\n"}


def test_certificate_mode_node_enrols_end_to_end_and_logs_in_with_its_cert(
        tmp_path: Path) -> None:
    port = free_port()
    dep = make_deployment(tmp_path, extra=("--auth", "cert", "--enroll-url",
                                           f"https://127.0.0.1:{port}/enroll/v1"))
    entry = json.loads(dep.manifest_path.read_text())["nodes"][NODE]
    bundle = dep.root / "bundles/nodes" / NODE
    with FatCard(tmp_path, TRIXIE) as boot:
        assert provision(["--lang", "en", "-d", str(dep.root), "sdcard", NODE, "--boot",
                          str(boot), "--no-ssh"]) == 0
        user_data = (boot / "user-data").read_text()
    assert "PRIVATE KEY" not in user_data  # the key never goes onto the card
    root = tmp_path / "node-root"
    for f in yaml.safe_load(user_data)["write_files"]:  # what cloud-init writes
        target = root / f["path"].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f["content"])
        os.chmod(target, int(f["permissions"], 8))

    with GeneratedBroker(dep) as broker:
        server = HttpsServer(dep, port)
        setup_enroll(server.app, dep.root, str(broker.pid_file), per_minute=600, burst=1000)
        with server:
            proc = run_enroll("--token-file", str(root / "etc/kotanet/seed/enroll.token"),
                              "--out", str(root / "etc/kotanet"), "--state-dir",
                              str(root / "var/lib/kotanet"))
            # cloud-init's own files (this card carries no package, so the enrolment unit is
            # one of them) are rewritten by cloud-init itself; every other file must stay
            seeded = {root / f["path"].lstrip("/") for f in yaml.safe_load(user_data)["write_files"]}
            mtimes = {p: p.stat().st_mtime_ns for p in (root / "etc").rglob("*")
                      if p.is_file() and p not in seeded}
            # the same card again (cloud-init re-run): central answers the repeat
            for f in yaml.safe_load(user_data)["write_files"]:
                (root / f["path"].lstrip("/")).write_text(f["content"])
            again = run_enroll("--token-file", str(root / "etc/kotanet/seed/enroll.token"),
                               "--out", str(root / "etc/kotanet"), "--state-dir",
                               str(root / "var/lib/kotanet"))
        assert proc.returncode == 0, proc.stderr
        assert f"node {NODE} (user {NODE})" in proc.stdout
        etc = root / "etc/kotanet"
        for name in ("client.crt", "client.key", "agent.toml", "ca.crt"):
            assert (etc / name).read_bytes() == (bundle / "etc/kotanet" / name).read_bytes()
        assert stat.S_IMODE((etc / "client.key").stat().st_mode) == 0o640
        assert not (etc / "mqtt-password").exists()  # the certificate is the login
        want = bundle_files(bundle)
        assert files_hash((p, (root / p).read_bytes()) for p in want) == entry["files_hash"]
        assert not (root / "etc/kotanet/seed/enroll.token").exists()
        assert again.returncode == 0, again.stderr  # nothing changed on the second run
        assert ", 0 changed," in again.stdout
        assert {p: p.stat().st_mtime_ns for p in (root / "etc").rglob("*")
                if p.is_file() and p not in seeded} == mtimes

        probe = Probe(dep, NODE, None, cert=etc / "client")
        try:
            assert probe.connect() == 0
            topic = f"kotanet/v1/node/{entry['site']}/{NODE}/state"
            assert probe.publish(topic, b'{"online": true}') in (0, 16)
        finally:
            probe.close()
    assert "BEGIN" not in proc.stdout + proc.stderr
