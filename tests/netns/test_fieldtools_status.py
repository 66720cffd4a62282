"""`kotanet-agent status --json` against the running agent equals what central shows for the
node; the status page, fetched by headless Chromium from the LAN side (a phone on the Wi-Fi,
by the name dnsmasq gives it), shows the uplinks and users and is not reachable from the
uplink side (tests/netns/fieldlab.py: real namespaces, broker, central, agent, dnsmasq)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .fieldlab import LAN_IP, NODE, ROOT, FieldLab
from .test_agent_failover_stack import wait_for

pytestmark = pytest.mark.netns

UPLINK_FIELDS = ("up", "active", "rtt_ms", "loss_pct", "jitter_ms", "rx_bps", "tx_bps")
THROTTLE = {"down_kbps": 20000, "up_kbps": 5000, "per_client_down_kbps": 2000, "lease_s": 600}
SHOTS = ROOT / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FieldLab]:
    """Broker, central, the agent and its status page, node online at central."""
    fl = FieldLab(tmp_path_factory.mktemp("status"))
    try:
        fl.start_services()
        fl.start_central()
        fl.start_agent()
        fl.start_statuspage()
        wait_for(lambda: (fl.api(f"/api/v1/nodes/{NODE}") or {}).get("online"), 30,
                 "the node online at central")
        yield fl
    finally:
        fl.close()


def _status(lab: FieldLab) -> dict[str, Any] | None:
    proc = lab.kotanet("status", "--config", str(lab.config), "--json")
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def test_status_json_equals_what_central_shows(lab: FieldLab) -> None:
    sent = lab.api_post(f"/api/v1/nodes/{NODE}/commands",
                        {"kind": "set_throttle", "params": THROTTLE, "ttl_s": 60})
    cid = sent["cmd_id"]
    cmd = wait_for(lambda: (c := lab.api(f"/api/v1/commands/{cid}")) and c["state"] == "applied"
                   and c, 20, "the throttle applied at central")
    snap = wait_for(lambda: (s := _status(lab)) and (s.get("command") or {}).get("cmd_id") == cid
                    and s["shaping"]["version"] == sent["version"] and s, 20,
                    "the command and its shaping in the snapshot")
    # central's record of the very sample the snapshot shows
    ts = snap["sample_ts_ms"]
    stored = wait_for(lambda: (lab.api(f"/api/v1/nodes/{NODE}/samples?since_ms={ts}"
                                       f"&until_ms={ts + 1}") or {}).get("samples"), 20,
                      "the snapshot's sample at central")[0]["data"]
    by_name = {u["name"]: u for u in stored["uplinks"]}
    assert [u["name"] for u in snap["uplinks"]] == ["primary", "backup"]
    for u in snap["uplinks"]:
        assert {k: u[k] for k in UPLINK_FIELDS} == \
            {k: by_name[u["name"]].get(k) for k in UPLINK_FIELDS}, u["name"]
    assert snap["users"] == stored["users"] and snap["users"]["associated"] == 2
    assert snap["system"] == stored["system"]
    assert snap["shaping"] == stored["shaping"]
    assert snap["shaping"]["down_kbps"] == THROTTLE["down_kbps"]

    node = lab.api(f"/api/v1/nodes/{NODE}")
    assert node["online"] is True and snap["broker"]["connected"] is True
    assert snap["broker"]["session"] == node["session"] == node["birth"]["session"]
    assert snap["node"]["config_hash"] == node["birth"]["config_hash"]
    assert snap["node"]["agent_version"] == node["birth"]["agent_version"]
    assert snap["active_uplink"] == node["active_uplink"] == "primary"
    assert node["throttle"] == {k: snap["shaping"][k] for k in ("version", "down_kbps",
                                                                "up_kbps")}
    assert snap["command"]["stages"] == [s["stage"] for s in cmd["stages"]] == \
        ["accepted", "applied"]
    assert snap["command"]["version"] == sent["version"] == cmd["version"]
    assert snap["broker"]["last_receipt_seq"] <= node["last_seq"]
    th = snap["throttle"]
    assert th["source"] == "central" and th["lease_s"] == 600 and 0 < th["lease_left_s"] <= 600
    assert snap["broker"]["centrals_online"] == ["central-1"]
    assert lab.pw[NODE] not in json.dumps(snap)


def test_status_page_on_a_phone_shows_uplinks_and_users(lab: FieldLab) -> None:
    snap = wait_for(lambda: _status(lab), 10, "a snapshot")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "statuspage-id.png"
    proc = lab.client.run(sys.executable, str(ROOT / "tests/netns/fieldtools_browser.py"),
                          "http://status.kotanet/", str(shot), timeout=90, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = json.loads(proc.stdout.strip().splitlines()[-1])
    assert page["status"] == 200 and page["lang"] == "id" and not page["errors"]
    assert page["scripts"] == 0 and "default-src 'none'" in page["csp"]
    assert page["sections"][:2] == ["Jalur internet", "Pengguna"]
    assert len(page["uplinks"]) == 2
    assert page["uplinks"][0].startswith("primary (wan1)") and "AKTIF" in page["uplinks"][0]
    assert page["uplinks"][1].startswith("backup (wan2)") and "siaga" in page["uplinks"][1]
    users = dict(r.split("\t", 1) for r in page["users"])
    assert users["Wi-Fi (hostapd)"].strip().endswith(str(snap["users"]["associated"]))
    assert users["Di lokasi sekarang"].strip().endswith(str(snap["users"]["total"]))
    assert page["value_font_px"] >= 18, "legible outdoors"
    assert not page["overflow_x"], "fits a phone's width"
    assert page["refresh"] == "10"
    assert page["en_lang"] == "en" and page["en_sections"][:2] == ["Uplinks", "Users"]
    assert shot.stat().st_size > 10_000


def test_status_page_is_served_only_on_the_lan_side(lab: FieldLab, tmp_path: Path) -> None:
    got = lab.client.run("curl", "-sf", "-m", "5", "http://status.kotanet/status.json")
    doc = json.loads(got.stdout)
    assert doc["node"]["id"] == NODE and lab.pw[NODE] not in got.stdout
    assert lab.client.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5",
                          f"http://{LAN_IP}/secret").stdout == "404"
    assert lab.client.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5",
                          "-X", "POST", f"http://{LAN_IP}/").stdout == "501"

    isp = lab.isp[1]  # the uplink side, given a route to the LAN as an attacker would add
    isp.run("ip", "route", "replace", "192.168.50.0/24", "via", "100.64.1.2")
    control = lab.node.popen(sys.executable, "-m", "http.server", "--bind", LAN_IP, "8081",
                             "--directory", str(tmp_path), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: f"{LAN_IP}:8081 " in lab.node.run("ss", "-ltnH").stdout, 10,
                 "the control server")
        # a server bound only to the LAN address IS reachable from the uplink side ...
        ctl = isp.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-m", "5",
                      f"http://{LAN_IP}:8081/", check=False)
        assert ctl.stdout == "200", "the uplink side has a path to the LAN address"
        # ... the status page (bound to br0 as well) is not, by address nor by the uplink's
        for url in (f"http://{LAN_IP}/", "http://100.64.1.2/"):
            r = isp.run("curl", "-sS", "-m", "5", url, check=False)
            assert r.returncode == 7, (url, r.returncode, r.stderr)  # 7: refused (RST)
        assert lab.client.run("curl", "-sf", "-m", "5", f"http://{LAN_IP}/",
                              check=False).returncode == 0, "the LAN side still gets the page"
    finally:
        control.terminate()
        control.wait(timeout=10)
        isp.run("ip", "route", "del", "192.168.50.0/24", check=False)
