"""`kotanet-agent selftest` on a node namespace (tests/netns/fieldlab.py), the agent running:
all green first; then one uplink blackholed upstream and the broker unreachable, and exactly
those checks fail, with hints, the exit status = their number, in Indonesian under
LANG=id_ID.UTF-8 with no English word left."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.fieldtools.i18n import SELFTEST_TEXTS as TEXTS
from agent.transport.presence import clock_synced

from .fieldlab import BROKER_IP, NODE, FieldLab
from .test_agent_failover_stack import wait_for

pytestmark = pytest.mark.netns

ALL = ["c.iface", "c.iface", "c.iface", "c.route", "c.dns", "c.uplink", "c.uplink",
       "c.broker_tcp", "c.broker_tls", "c.broker_login", "c.clock", "c.disk", "c.sd_write",
       "c.hostapd", "c.dnsmasq", "c.opennds", "c.gpio"]
#: technical names that read the same in both languages
NEUTRAL = {"wan1", "wan2", "br0", "primary", "backup", "tcp", "tls", "dns", "mqtt", "ntp",
           "gpio", "lan", "wi", "fi", "led", "dhcp", "ipv4", "rtt", "ms", "mb", "kib", "isp",
           "noc", "sim", "lte", "usb", "hostapd", "dnsmasq", "opennds", "kotanet", "agent",
           "toml", "broker", "port", "mqtts", "pin", "sd", "n1", "s1", "mockfactory"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FieldLab]:
    """The node lab with broker, central and the agent running."""
    fl = FieldLab(tmp_path_factory.mktemp("selftest"))
    try:
        fl.start_services()
        fl.start_central()
        fl.start_agent()
        wait_for(lambda: (fl.api(f"/api/v1/nodes/{NODE}") or {}).get("online"), 30,
                 "the node online at central")
        yield fl
    finally:
        fl.close()


def _run(lab: FieldLab, lang: str = "en") -> tuple[int, dict[str, Any], str]:
    js = lab.kotanet("selftest", "--config", str(lab.config), "--json", lang=lang,
                     synced_clock=True)
    text = lab.kotanet("selftest", "--config", str(lab.config), lang=lang, synced_clock=True)
    assert js.returncode == text.returncode, (js.stderr, text.stderr)
    return js.returncode, json.loads(js.stdout), text.stdout


def _failed(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in doc["checks"] if c["status"] == "fail"}


def _words(text: str) -> set[str]:
    text = re.sub(r"`[^`]*`", " ", text)  # commands are commands in any language
    text = re.sub(r"\S*[/.:]\S*", " ", text)  # paths, addresses, host names
    return {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z-]*", text)}


def test_everything_passes_on_a_healthy_node_and_the_agent_keeps_its_session(
        lab: FieldLab) -> None:
    session = lab.api(f"/api/v1/nodes/{NODE}")["session"]
    rc, doc, text = _run(lab)
    assert rc == 0, text
    assert [c["check"] for c in doc["checks"]] == ALL
    status = {c["name"]: c["status"] for c in doc["checks"]}
    assert status["openNDS (portal) answers"] == "skip"  # an office node: no portal
    assert {s for n, s in status.items() if n != "openNDS (portal) answers"} == {"ok"}, text
    assert "All 17 checks passed (1 not applicable)." in text
    assert "✓ Uplink backup reaches the internet" in text
    assert "✓ Broker login as n1: accepted" in text
    assert lab.pw[NODE] not in text + json.dumps(doc), "the password never appears"
    node = lab.api(f"/api/v1/nodes/{NODE}")
    assert node["online"] and node["session"] == session, "selftest's login kept the agent's"


def test_blackholed_uplink_and_unreachable_broker_fail_exactly_with_hints(
        lab: FieldLab) -> None:
    lab.isp[2].run("ip", "route", "replace", "blackhole", "default")  # carrier stays up
    lab.inet.run("nft", "add table ip ktdrop; add chain ip ktdrop in { type filter hook "
                 f"input priority 0 ; }}; add rule ip ktdrop in ip daddr {BROKER_IP} "
                 "tcp dport 8883 drop")
    try:
        rc, doc, text = _run(lab)
        failed = _failed(doc)
        assert set(failed) == {"Uplink backup reaches the internet",
                               "Broker TCP mqtt.kotanet.test:8883"}, text
        assert rc == 2 == len(failed)
        assert "timed out" in failed["Broker TCP mqtt.kotanet.test:8883"]["detail"]
        assert "no reply from 198.51.100.1, 198.51.100.2" in \
            failed["Uplink backup reaches the internet"]["detail"]
        assert all(c["hint"] for c in failed.values())
        assert "ISP" in failed["Uplink backup reaches the internet"]["hint"]
        skipped = {c["name"] for c in doc["checks"] if c["status"] == "skip"}
        assert {"Broker TLS", "Broker login as n1"} <= skipped  # not failures: not reached
        assert "✗ Uplink backup reaches the internet" in text and "→ Hint: " in text
        assert "2 of 17 checks failed (3 not applicable)." in text

        rc_id, doc_id, text_id = _run(lab, lang="id")
        assert rc_id == 2 == len(_failed(doc_id)), text_id
        assert "✗ Jalur backup sampai ke internet: tidak ada balasan dari" in text_id
        assert "→ Petunjuk: " in text_id and "2 dari 17 pemeriksaan gagal" in text_id
        assert "waktu habis" in _failed(doc_id)["Broker TCP mqtt.kotanet.test:8883"]["detail"]
        english = {w for _, en in TEXTS.values() for w in _words(en)}
        indonesian = {w for id_, _ in TEXTS.values() for w in _words(id_)}
        leaked = _words(text_id) & (english - indonesian - NEUTRAL)
        assert not leaked, f"English words in the Indonesian output: {sorted(leaked)}"
    finally:
        lab.inet.run("nft", "delete table ip ktdrop", check=False)
        lab.isp[2].run("ip", "route", "replace", "default", "via", "10.255.2.1")


def test_clock_check_tells_the_machines_real_sync_state(lab: FieldLab, tmp_path: Path) -> None:
    real = lab.kotanet("selftest", "--config", str(lab.config), "--json")  # no flag given
    clock = next(c for c in json.loads(real.stdout)["checks"] if c["check"] == "c.clock")
    assert clock["status"] == ("ok" if clock_synced() else "fail"), clock
    if clock["status"] == "fail":
        assert "timedatectl" in clock["hint"] and real.returncode == 1
