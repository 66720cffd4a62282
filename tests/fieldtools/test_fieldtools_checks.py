"""Selftest checks one by one against real things where they exist here (sockets, files, the
fake hostapd control socket, gpiozero's MockFactory) and the texts of both languages."""

from __future__ import annotations

import errno
import io
import re
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from agent.actuators import gpio
from agent.config import parse_config
from agent.fieldtools import checks as ck
from agent.fieldtools import checks_net as net
from agent.fieldtools.i18n import SELFTEST_TEXTS as TEXTS
from agent.fieldtools.selftest import line, run_selftest, summary, text
from agent.transport.url import BrokerTarget
from tests.fakes.hostapd import FakeHostapd, FakeStation


def _cfg(tmp: Path, **sections: dict[str, object]) -> object:
    data: dict[str, object] = {"node": {"id": "tks-01", "site": "s"},
                               "agent": {"state_dir": str(tmp)}, **sections}
    return parse_config(data)


@pytest.fixture
def no_gpio_state() -> Iterator[None]:
    """gpiozero's global factory and the agent's cached detection are restored after."""
    saved = Device.pin_factory
    gpio.reset_detection()
    yield
    Device.pin_factory = saved
    gpio.reset_detection()


def test_reasons_map_to_keys_never_to_english_text() -> None:
    assert ck.why(TimeoutError()).key == "err.timeout"
    assert ck.why(ConnectionRefusedError(errno.ECONNREFUSED, "x")).key == "err.refused"
    assert ck.why(OSError(errno.ENETUNREACH, "x")).key == "err.unreachable"
    assert ck.why(PermissionError(errno.EPERM, "x")).key == "err.perm"
    assert ck.why(OSError(errno.ECONNRESET, "x")) == ck.msg("err.other", name="ECONNRESET")
    assert ck.why(socket.gaierror(socket.EAI_NONAME, "x")).key == "err.nxdomain"
    cert = ssl.SSLCertVerificationError("x")
    cert.verify_code = 62
    assert ck.why(cert).key == "err.name"
    cert.verify_code = 10
    assert ck.why(cert).key == "err.cert"
    assert ck.why(ValueError("x")) == ck.msg("err.other", name="ValueError")


def test_texts_exist_in_both_languages_with_the_same_placeholders() -> None:
    for key, (id_, en) in TEXTS.items():
        assert id_ and en, key
        assert set(re.findall(r"{(\w+)}", id_)) == set(re.findall(r"{(\w+)}", en)), key
    nested = ck.msg("d.tcp_fail", why=ck.msg("err.timeout"))
    assert text("id", nested) == "waktu habis" and text("en", nested) == "timed out"
    assert text("id", ck.msg("d.reach_ok", got=3, sent=4, rtt=12.5)).endswith("RTT 12,5 ms")


def test_hostapd_answers_is_silent_or_absent(tmp_path: Path) -> None:
    sock = tmp_path / "wlan0"
    cfg = _cfg(tmp_path, users={"hostapd_ctrl": [str(tmp_path)], "hostapd_timeout_s": 0.2})
    assert ck.hostapd(cfg).detail == ck.msg("d.no_sockets", paths=str(tmp_path))  # type: ignore[arg-type]
    with FakeHostapd(str(sock), [FakeStation("02:00:00:00:00:01")]):
        assert ck.hostapd(cfg).status == "ok"  # type: ignore[arg-type]
    with FakeHostapd(str(sock), [], silent=True):
        res = ck.hostapd(cfg)  # type: ignore[arg-type]
        assert res.status == "fail" and res.detail.params["why"].key == "err.timeout"
        assert res.hint is not None and res.hint.key == "h.hostapd"
    off = _cfg(tmp_path, users={"hostapd_ctrl": []})
    assert ck.hostapd(off).status == "skip"  # type: ignore[arg-type]


def test_opennds_and_dnsmasq_when_absent(tmp_path: Path) -> None:
    missing = _cfg(tmp_path, users={"ndsctl": "kotanet-no-such-ndsctl"})
    res = ck.opennds(missing)  # type: ignore[arg-type]
    assert res.status == "fail" and res.hint == ck.msg("h.opennds")
    assert ck.opennds(_cfg(tmp_path, users={"ndsctl": ""})).status == "skip"  # type: ignore[arg-type]
    res = ck.dnsmasq(_cfg(tmp_path), "kt-absent0")  # type: ignore[arg-type]
    assert res.status == "fail" and res.hint == ck.msg("h.lan_no_addr")


def test_gpio_present_absent_or_not_configured(tmp_path: Path, no_gpio_state: None) -> None:
    cfg = _cfg(tmp_path, gpio={"led_ok": 17, "button": 23})
    assert ck.gpio(_cfg(tmp_path)).status == "skip"  # type: ignore[arg-type]
    Device.pin_factory = MockFactory()
    res = ck.gpio(cfg)  # type: ignore[arg-type]
    assert res.status == "ok" and res.detail.params == {"pins": "17, 23",
                                                        "factory": "MockFactory"}


def test_disk_and_sd_write_on_a_real_directory(tmp_path: Path) -> None:
    assert ck.disk(str(tmp_path)).status == "ok"
    res = ck.sd_write(str(tmp_path))
    assert res.status == "ok" and res.detail.params["kb"] == 256
    assert not list(tmp_path.iterdir()), "the test file is removed"
    res = ck.sd_write(str(tmp_path / "absent"))
    assert res.status == "fail" and res.detail.params["why"].key == "err.missing"
    assert ck.disk(str(tmp_path / "absent")).status == "fail"


def test_broker_checks_against_a_closed_port_and_a_plain_listener() -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        port = srv.getsockname()[1]
        closed = BrokerTarget("127.0.0.1", port, False, "tks-01", None)  # bound, not listening
        res = net.broker_tcp(closed)
        assert res.status == "fail" and res.detail.params["why"].key == "err.refused"
        srv.listen(1)
        assert net.broker_tcp(closed).status == "ok"
        assert net.broker_tls(closed, True).status == "skip"  # plain mqtt://
        tls = BrokerTarget("127.0.0.1", port, True, "tks-01", None)
        assert net.broker_tls(tls, False).detail.key == "d.skipped_after"
        assert net.broker_login(tls, "tks-01", False).status == "skip"
    assert net.dns("192.0.2.1").status == "skip"
    assert net.interface("kt-absent0", ck.msg("role.lan"), lan=True).hint == \
        ck.msg("h.lan_missing")


def test_unusable_config_is_exit_1_and_output_lines(tmp_path: Path) -> None:
    bad = tmp_path / "agent.toml"
    bad.write_text("[node]\nid = 'x'\nsite = 's'\nbogus = 1\n")
    assert run_selftest(str(bad), "en", out=io.StringIO()) == 1
    failed = ck.failed(ck.msg("c.clock"), ck.msg("d.clock_fail", t="2026-01-01 07:00"),
                       ck.msg("h.clock"))
    assert line("id", failed).startswith("✗ Jam tersinkron (NTP): belum tersinkron")
    assert "\n    → Petunjuk: Jam belum tersinkron" in line("id", failed)
    skipped = ck.skipped(ck.msg("c.gpio"), ck.msg("d.not_configured"))
    assert line("en", skipped) == "– GPIO (LEDs, button): not applicable (not used on this node)"
    assert summary("en", [failed, skipped]) == "1 of 2 checks failed (1 not applicable)."
