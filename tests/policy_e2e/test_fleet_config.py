"""Fleet configuration: the Sampit sample loads, fleet files merge, mistakes fail in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from central.config import CentralConfig, ConfigError, load_config
from central.policy.fleet import fleet_policy
from central.policy.schedule import period
from tests.policy_e2e.policy_helpers import ROOT

BASE = """
[[upstreams]]
id = "telkom-parks"
down_kbps = 10000
up_kbps = 4000

[[sites]]
id = "taman-kota-sampit"
kind = "park"
down_kbps = 20000
up_kbps = 8000
upstream = "telkom-parks"
nodes = ["tks-01", "tks-02"]
"""


def _load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> CentralConfig:
    p = tmp_path / "central.toml"
    p.write_text(text)
    return load_config(p, env=env or {})


def test_sampit_sample_config_gives_the_policy_its_fleet() -> None:
    cfg = load_config(ROOT / "examples" / "central.toml", env={})
    fleet = fleet_policy(cfg)
    tks = fleet.sites["tks-01"]
    assert (tks.site, tks.role, tks.upstream) == ("taman-kota-sampit", "park", "telkom-sampit-1")
    assert (tks.contract_down_kbps, tks.contract_up_kbps) == (50000, 10000)  # split over 2 nodes
    assert fleet.sites["bupati-01"].floor_down_kbps == 10000  # per-site floor beats [policy]
    assert fleet.schedule.utc_offset_min == 7 * 60  # WIB
    assert {e.node for e in fleet.schedule.events} == {"tks-01", "tks-02"}
    # 17 August 2026 is a holiday: the whole day is weekend-like even on a Monday
    assert period(fleet.schedule.events[0].start_ms, fleet.schedule) == "weekend"
    assert [(o.node, o.throttle and o.throttle.down_kbps) for o in fleet.overrides] == [
        ("trs-01", 20000)]
    assert {n.node: n.role for n in cfg.nodes}["kominfo-01"] == "office"  # registered


def test_fleet_file_is_merged_and_the_env_variable_replaces_it(tmp_path: Path) -> None:
    a = {"sites": [{"id": "taman-religi", "kind": "park", "down_kbps": 5000, "up_kbps": 1000,
                    "upstream": "telkom-parks"}]}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.toml").write_text(
        '[[sites]]\nid = "kantor-bupati"\nkind = "office"\ndown_kbps = 5000\nup_kbps = 1000\n'
        'upstream = "telkom-parks"\n')
    text = 'fleet_file = "a.json"\n' + BASE
    cfg = _load(tmp_path, text)
    assert [s.id for s in cfg.sites] == ["taman-kota-sampit", "taman-religi"]
    cfg = _load(tmp_path, text, {"KOTANET_FLEET_FILE": str(tmp_path / "b.toml")})
    assert [s.id for s in cfg.sites] == ["taman-kota-sampit", "kantor-bupati"]


@pytest.mark.parametrize(("extra", "message"), [
    ('[[sites]]\nid = "x"\nkind = "park"\ndown_kbps = 1\nup_kbps = 1\nupstream = "nope"\n',
     "sites.1.upstream: unknown upstream 'nope'"),
    ('[[sites]]\nid = "x"\nkind = "mall"\ndown_kbps = 1\nup_kbps = 1\nupstream = "telkom-parks"\n',
     "sites.1.kind"),
    ('[[upstreams]]\nid = "u"\ndown_kbps = 1\nup_kbps = 1\nspeed = 3\n',
     "unknown key 'upstreams.1.speed'"),
    ('[[events]]\nsite = "taman-kota-sampit"\nstart = "2026-08-17T19:00"\n'
     'end = "2026-08-17T18:00"\n', "events.0.end: must be after start"),
    ('[[events]]\nsite = "taman-kota-sampit"\nstart = "17 Agustus"\nend = "2026-08-17T18:00"\n',
     "events.0.start"),
    ('[[overrides]]\nnode = "tks-09"\nuntil = "2026-12-01T00:00"\n',
     "overrides.0.node: 'tks-09' is in no site"),
    ('[[overrides]]\nsite = "taman-kota-sampit"\nuntil = "2026-12-01T00:00"\ndown_kbps = 5\n',
     "give both down_kbps and up_kbps"),
    ('[policy]\ntimezone = "Asia/Sampit"\n', "policy.timezone: Value error, unknown time zone"),
    ('[policy]\ninterval_s = 20\n', "must be below half of leader_ttl_s=30"),
    ('[policy]\noffice_start = "7.30"\n', "policy.office_start"),
    ('[[sites]]\nid = "y"\nkind = "park"\ndown_kbps = 1\nup_kbps = 1\nupstream = "telkom-parks"\n'
     'nodes = ["tks-01"]\n', "sites.nodes: 'tks-01' listed twice"),
])
def test_fleet_mistakes_fail_with_one_line_naming_the_key(tmp_path: Path, extra: str,
                                                           message: str) -> None:
    text = BASE + extra if not extra.startswith("[policy]") else extra + BASE
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_entry_in_a_fleet_file_names_the_file_and_entry(tmp_path: Path) -> None:
    (tmp_path / "fleet.json").write_text(json.dumps({"sites": [
        {"id": "a", "kind": "park", "down_kbps": 0, "up_kbps": 1, "upstream": "telkom-parks"}]}))
    with pytest.raises(ConfigError, match=r"fleet\.json: sites\[0\]: down_kbps"):
        _load(tmp_path, 'fleet_file = "fleet.json"\n' + BASE)
    (tmp_path / "fleet.json").write_text(json.dumps({"parks": []}))
    with pytest.raises(ConfigError, match="fleet.json: unknown key 'parks'"):
        _load(tmp_path, 'fleet_file = "fleet.json"\n' + BASE)
