"""Broker URL and credentials: defaults, precedence, and errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.config import ConfigError, parse_config
from agent.transport.url import resolve_target


def _cfg(**mqtt: Any) -> Any:
    return parse_config({"node": {"id": "node-7", "site": "s1"}, "mqtt": mqtt})


def test_defaults_username_to_node_id_and_reads_url_password() -> None:
    t = resolve_target(_cfg(url="mqtt://broker.lan"))
    assert (t.host, t.port, t.tls, t.username, t.password) == ("broker.lan", 1883, False,
                                                               "node-7", None)
    t = resolve_target(_cfg(url="mqtt://node-7:s%40cret@10.0.0.1:1999"))
    assert (t.port, t.username, t.password) == (1999, "node-7", "s@cret")


def test_password_precedence_and_file(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    assert resolve_target(_cfg(url="mqtt://u:url@h", password="cfg")).password == "cfg"
    assert resolve_target(_cfg(url="mqtt://u:url@h", password_file=str(pw))).password == "from-file"


def test_mqtts_defaults_to_8883_and_checks_files(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    t = resolve_target(_cfg(url="mqtts://broker.lan", ca_file=str(ca)))
    assert t.tls and t.port == 8883 and t.ca_file == str(ca)


def test_repr_never_shows_the_password() -> None:
    t = resolve_target(_cfg(url="mqtt://h", password="hunter2"))
    assert "hunter2" not in repr(t) and "hunter2" not in str(t)


@pytest.mark.parametrize(("mqtt", "key"), [
    ({"url": "http://h"}, "mqtt.url"),
    ({"url": "mqtt://"}, "mqtt.url"),
    ({"url": "mqtt://h:99999"}, "mqtt.url"),
    ({"url": "mqtt://h/path"}, "mqtt.url"),
    ({"url": "mqtt://h", "password": "a", "password_file": "/x"}, "mqtt.password"),
    ({"url": "mqtt://h", "password_file": "/nonexistent/pw"}, "mqtt.password_file"),
    ({"url": "mqtt://h", "ca_file": "/etc/hostname"}, "mqtt.ca_file"),
    ({"url": "mqtts://h", "ca_file": "/nonexistent/ca.pem"}, "mqtt.ca_file"),
    ({"url": "mqtts://h", "cert_file": "/etc/hostname"}, "mqtt.cert_file"),
])
def test_bad_settings_fail_with_the_key_named(mqtt: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")) as err:
        resolve_target(_cfg(**mqtt))
    assert "\n" not in str(err.value)


def test_foreign_username_warns_but_a_rotation_alias_does_not(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="agent.transport.url"):
        assert resolve_target(_cfg(url="mqtt://h", username="node-7~g2")).username == "node-7~g2"
        assert not caplog.records
        resolve_target(_cfg(url="mqtt://h", username="node-8"))
        resolve_target(_cfg(url="mqtt://h", username="node-7~gx"))
    assert [r.getMessage().split(" differs")[0] for r in caplog.records] == [
        "MQTT username 'node-8'", "MQTT username 'node-7~gx'"]
