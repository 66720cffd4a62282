"""Central configuration: strict keys, env overrides, registry files, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from central.config import ConfigError, load_config, parse_mqtt_url
from central.storage import StorageError, open_storage


def _write(tmp_path: Path, text: str, name: str = "central.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_env_overrides_the_file(tmp_path: Path) -> None:
    p = _write(tmp_path, '[mqtt]\nurl = "mqtt://a:b@10.0.0.1:1883"\n[http]\nlisten = "0.0.0.0:80"\n')
    cfg = load_config(p, env={"KOTANET_MQTT_URL": "mqtt://c%40x:p%3Aw@127.0.0.1:1884",
                              "KOTANET_HTTP": "127.0.0.1:9000", "KOTANET_ADMIN_TOKEN": "tok",
                              "KOTANET_DB": "sqlite:///tmp/x.db"})
    assert parse_mqtt_url(cfg.mqtt.url) == ("127.0.0.1", 1884, "c@x", "p:w")
    assert cfg.http_hostport() == ("127.0.0.1", 9000)
    assert cfg.http.admin_token == "tok" and cfg.storage.url == "sqlite:///tmp/x.db"


@pytest.mark.parametrize(("text", "needle"), [
    ("gap_grace = 5\n", "unknown key 'gap_grace'"),
    ("[mqtt]\nurl = 'mqtt://h:1'\nkeepalive = 3\n", "unknown key 'mqtt.keepalive'"),
    ("[[nodes]]\nnode = 'a'\nsite = 's'\nrol = 'park'\n", "unknown key 'nodes.0.rol'"),
    ("[[nodes]]\nnode = 'a/b'\nsite = 's'\n", "nodes.0.node"),
    ("instance = 'bad+id'\n", "instance"),
    ("[mqtt]\nurl = 'http://x'\n", "mqtt.url"),
    ("[http]\nlisten = 'nope'\n", "http.listen"),
    ("strict_registry = 'maybe'\n", "strict_registry"),
    ("[[nodes]]\nnode = 'a'\nsite = 's'\n[[nodes]]\nnode = 'a'\nsite = 't'\n", "listed twice"),
    ("mqtt = 3\n", "mqtt"),
    ("this is not toml\n", "not valid TOML"),
])
def test_bad_config_is_one_line_naming_the_key(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text), env={})
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_registry_file_toml_and_json(tmp_path: Path) -> None:
    _write(tmp_path, '[[nodes]]\nnode = "tk-01"\nsite = "taman-kota"\nrole = "park"\n',
           "nodes.toml")
    _write(tmp_path, '[{"node": "dinkes-01", "site": "dinkes", "role": "office"}]',
           "nodes.json")
    cfg = load_config(_write(tmp_path, 'registry_file = "nodes.toml"\nstrict_registry = true\n'),
                      env={})
    assert [(n.node, n.site) for n in cfg.nodes] == [("tk-01", "taman-kota")]
    cfg = load_config(_write(tmp_path, 'registry_file = "nodes.json"\n'), env={})
    assert cfg.nodes[0].role == "office"
    _write(tmp_path, '[{"node": "x", "site": "s", "colour": "red"}]', "bad.json")
    with pytest.raises(ConfigError, match="colour"):
        load_config(_write(tmp_path, 'registry_file = "bad.json"\n'), env={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(_write(tmp_path, 'registry_file = "missing.toml"\n'), env={})


def test_instance_defaults_to_host_and_pid() -> None:
    cfg = load_config(None, env={})
    assert cfg.instance_id().endswith(f"-{__import__('os').getpid()}")


def test_storage_url_errors(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="unsupported scheme .mysql."):
        open_storage("mysql://db/kotanet")


    s = open_storage(f"sqlite:////{tmp_path}/deep/a.db")  # four slashes: absolute too
    s.close()
    assert (tmp_path / "deep" / "a.db").exists()
