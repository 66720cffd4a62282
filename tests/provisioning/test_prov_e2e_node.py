"""The whole node from one card (issue 17): inventory -> build -> sdcard (cloud-init seed on a real
FAT card) -> the seed's files as cloud-init writes them -> `kotanet-agent enroll` against a real
kotanet-central (its enrolment endpoint behind a TLS-terminating proxy, as in the field; the
generated mosquitto with TLS) -> the node's files in a "node root" directory equal the bundle's
by hash -> the real agent, started on exactly those files, passes `kotanet-provision verify`
(config hash AND node files hash). Then the same seed runs again: nothing is rewritten (every
mtime unchanged), the files hash is the same.

Everything runs in a network namespace this test creates (uplinks go to a peer namespace); the
agent sees the node root's etc/ and var/lib/ through overlay mounts in a private mount namespace.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from cardhelp import FatCard
from netns.nsutil import Lab, Netns
from netns.nsutil import stop_proc as stop
from provhelp import REPO, make_deployment, prepare_node

from protocol.nodefiles import files_hash
from provisioning.cli import main as provision
from provisioning.deployment import Deployment
from provisioning.nodefiles import bundle_files

pytestmark = [pytest.mark.broker, pytest.mark.netns]

NODE = "bupati-01"  # office: two Ethernet uplinks present in the namespace
BIN = Path(sys.executable).parent
TRIXIE = {"cmdline.txt": "console=tty1\n", "issue.txt": "pi-gen, trixie\n"}

# TLS in front of central's plain HTTP (the reverse proxy of operations.md); args:
# listen port, central's port, certificate, key
PROXY = """
import ssl, sys
from aiohttp import ClientSession, web
port, upstream, crt, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
async def forward(request):
    async with ClientSession() as s, s.request(request.method,
            f"http://127.0.0.1:{upstream}{request.rel_url}", data=await request.read(),
            headers={"Content-Type": request.headers.get("Content-Type", "")}) as r:
        return web.Response(status=r.status, body=await r.read(),
                            content_type=r.content_type)
app = web.Application()
app.router.add_route("*", "/{tail:.*}", forward)
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(crt, key)
web.run_app(app, host="127.0.0.1", port=port, ssl_context=ctx, print=None)
"""


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab("kte")
    yield lab
    lab.close()


def wait_until(cond: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll cond() until true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.1)


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


def run_cloud_init_write_files(card: Path, root: Path) -> None:
    """What cloud-init does with the seed's write_files, under `root` instead of /."""
    user_data = yaml.safe_load((card / "user-data").read_text())
    for f in user_data["write_files"]:
        target = root / f["path"].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f["content"])
        os.chmod(target, int(f["permissions"], 8))


def enroll(ns: Netns, root: Path) -> subprocess.CompletedProcess[str]:
    """The enrolment unit's command, with the node root for / (no services: not the real /)."""
    return ns.run(f"{BIN}/kotanet-agent", "enroll", "--lang", "en", "--attempts", "1",
                  "--token-file", str(root / "etc/kotanet/seed/enroll.token"),
                  "--out", str(root / "etc/kotanet"), "--state-dir",
                  str(root / "var/lib/kotanet"), check=False, timeout=60)


def node_state(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under root/etc except the seed's: path -> (mtime_ns, sha256)."""
    return {p.relative_to(root).as_posix(): (p.stat().st_mtime_ns,
                                             hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted((root / "etc").rglob("*"))
            if p.is_file() and "etc/kotanet/seed" not in p.as_posix()}


def agent_cmd(root: Path) -> list[str]:
    """The real agent on the node root's files (overlays over /etc and /var/lib)."""
    work = root.parent / "overlay-work"
    for w in ("etc", "lib"):
        shutil.rmtree(work / w, ignore_errors=True)
        (work / w).mkdir(parents=True)
    script = (f"mount -t overlay overlay -o lowerdir=/etc,upperdir={root}/etc,"
              f"workdir={work}/etc /etc && "
              f"mount -t overlay overlay -o lowerdir=/var/lib,upperdir={root}/var/lib,"
              f"workdir={work}/lib /var/lib && "
              f"exec {BIN}/kotanet-agent --config /etc/kotanet/agent.toml")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def test_the_whole_node_from_one_card_verifies_and_a_rerun_changes_nothing(
        lab: Lab, tmp_path: Path) -> None:
    ns = prepare_node(lab)
    https_port, http_port = 18443, 18080
    dep: Deployment = make_deployment(tmp_path, extra=(
        "--enroll-url", f"https://127.0.0.1:{https_port}/enroll/v1"))
    port = dep.settings.broker_port
    built = subprocess.run([sys.executable, str(REPO / "scripts/build_deb.py"), "--out",
                            str(tmp_path / "deb")], capture_output=True, text=True, timeout=300,
                           check=True)
    assert provision(["--lang", "en", "-d", str(dep.root), "repo",
                      built.stdout.strip().splitlines()[-1]]) == 0
    entry = json.loads(dep.manifest_path.read_text())["nodes"][NODE]
    bundle = dep.root / "bundles/nodes" / NODE
    with FatCard(tmp_path, TRIXIE) as boot:
        assert provision(["--lang", "en", "-d", str(dep.root), "sdcard", NODE, "--boot",
                          str(boot), "--no-ssh"]) == 0
        card = tmp_path / "card"
        shutil.copytree(boot, card)
    seed_text = (card / "user-data").read_text()
    assert "wpa_passphrase" not in seed_text and "BEGIN PRIVATE KEY" not in seed_text
    # the package on the card brings the enrolment unit; the seed writes no node file
    assert "/etc/systemd/system/" not in seed_text and (card / "kotanet/firstboot.sh").is_file()

    root = tmp_path / "node-root"
    (root / "var/lib/kotanet").mkdir(parents=True)
    central_conf = tmp_path / "central.toml"
    central_conf.write_text(f'instance = "central-1"\n[mqtt]\nkeepalive_s = 5\n'
                            f'ca_file = "{dep.pki / "ca.crt"}"\n')
    env = {**os.environ, "KOTANET_DEPLOYMENT": str(dep.root),
           "KOTANET_BROKER_PID_FILE": str(tmp_path / "mosquitto.pid"),
           "KOTANET_MQTT_URL": f"mqtts://central:{dep.service_password('central')}"
                               f"@127.0.0.1:{port}",
           "KOTANET_DB": f"sqlite:///{tmp_path / 'central.db'}",
           "KOTANET_HTTP": f"127.0.0.1:{http_port}"}
    procs: list[subprocess.Popen[bytes]] = []
    logs = {name: tmp_path / f"{name}.log" for name in ("central", "proxy", "agent", "agent2")}
    broker_log = Path(str(dep.settings.broker_log))

    def spawn(name: str, cmd: list[str]) -> subprocess.Popen[bytes]:
        with logs[name].open("wb") as out:
            p = subprocess.Popen(["ip", "netns", "exec", ns.name, *cmd], stdout=out,
                                 stderr=subprocess.STDOUT, env=env)
        procs.append(p)
        return p

    def verify() -> subprocess.Popen[bytes]:
        seen = read(broker_log).count("u'verifier'")
        p = ns.popen(f"{BIN}/kotanet-provision", "--lang", "en", "-d", str(dep.root), "verify",
                     NODE, "--mqtt-url", f"mqtts://127.0.0.1:{port}", "--timeout", "100",
                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(p)
        wait_until(lambda: read(broker_log).count("u'verifier'") > seen, "verify to connect")
        return p

    try:
        broker = ns.popen("mosquitto", "-c", str(dep.broker_dir / "mosquitto.conf"),
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(broker)
        wait_until(lambda: "running" in read(broker_log), "mosquitto")
        (tmp_path / "mosquitto.pid").write_text(f"{broker.pid}\n")
        spawn("central", [f"{BIN}/kotanet-central", "--config", str(central_conf)])
        spawn("proxy", [sys.executable, "-c", PROXY, str(https_port), str(http_port),
                        str(dep.broker_dir / "server.crt"), str(dep.broker_dir / "server.key")])
        wait_until(lambda: ns.run("curl", "-sf", f"http://127.0.0.1:{http_port}/healthz",
                                  check=False).returncode == 0, "central /healthz")
        wait_until(lambda: f"127.0.0.1:{https_port} " in ns.run("ss", "-ltnH").stdout,
                   "the TLS proxy")

        # first boot: cloud-init writes the seed, the enrolment unit runs
        run_cloud_init_write_files(card, root)
        first = enroll(ns, root)
        assert first.returncode == 0, first.stdout + first.stderr
        assert not (root / "etc/kotanet/seed/enroll.token").exists()
        want = bundle_files(bundle)
        for path, data in want.items():  # the node holds every file of the bundle
            assert (root / path).read_bytes() == data, path
        for path in ("etc/hostapd/hostapd.conf", "etc/dnsmasq.d/kotanet.conf",
                     "etc/nftables.conf", "etc/sysctl.d/90-kotanet.conf",
                     "etc/systemd/journald.conf.d/90-kotanet.conf",
                     "etc/systemd/system/kotanet-agent.service"):
            assert path in want
        assert (root / "etc/hostapd/hostapd.conf").stat().st_mode & 0o777 == 0o600
        got = files_hash((p, (root / p).read_bytes()) for p in want)
        assert got == entry["files_hash"]
        recorded = json.loads((root / "etc/kotanet/node-files.json").read_text())
        assert recorded["files_hash"] == entry["files_hash"]
        assert f"files hash {entry['files_hash']}" in first.stdout

        # the real agent on those files: verify passes with both hashes
        check = verify()
        agent = spawn("agent", agent_cmd(root))
        out = check.communicate(timeout=130)[0].decode()
        assert check.returncode == 0, out + read(logs["agent"])
        assert f"✓ config hash: expected {entry['config_hash']}" in out
        assert f"✓ node files (hostapd, dnsmasq, nftables, …): expected " \
               f"{entry['files_hash'][:12]}…, the node reports {entry['files_hash'][:12]}…" in out
        assert f"PASS: node {NODE} is ready." in out
        stop(agent)

        # the same seed again: nothing rewritten, same hash
        before = node_state(root)
        time.sleep(0.05)  # a rewrite would show a later mtime
        run_cloud_init_write_files(card, root)
        again = enroll(ns, root)
        assert again.returncode == 0, again.stdout + again.stderr
        assert ", 0 changed," in again.stdout
        assert node_state(root) == before
        assert json.loads((root / "etc/kotanet/node-files.json").read_text()) == recorded
        # and the node still logs in (central answered the repeat, the password is unchanged)
        check = verify()
        agent = spawn("agent2", agent_cmd(root))
        out = check.communicate(timeout=130)[0].decode()
        assert check.returncode == 0, out + read(logs["agent2"])
    finally:
        for p in reversed(procs):
            stop(p)
    password = (root / "etc/kotanet/mqtt-password").read_text().strip()
    everything = "".join(read(p) for p in logs.values()) + first.stdout + first.stderr
    assert password not in everything
