"""Pure shaping plan: param validation with reason codes, class planning, diff, tc parsing."""

from __future__ import annotations

from typing import Any

import pytest

from agent.actuators.shaping import parse_classes, parse_rate_kbit, parse_state, render
from agent.policy import shaping as sp
from protocol.params import MAX_KBPS, MAX_LEASE_S, MIN_KBPS, ParamsError


@pytest.mark.parametrize(("params", "field", "fragment"), [
    ({}, None, "no rate given"),
    ({"down_kbps": 2000, "burst": 5}, "burst", "unknown key(s): burst"),
    ({"down_kbps": -1}, "down_kbps", f"greater than or equal to {MIN_KBPS}"),
    ({"down_kbps": 0}, "down_kbps", f"greater than or equal to {MIN_KBPS}"),
    ({"up_kbps": MAX_KBPS + 1}, "up_kbps", f"less than or equal to {MAX_KBPS}"),
    ({"up_kbps": 1500.5}, "up_kbps", "valid integer"),
    ({"up_kbps": 1500.0}, "up_kbps", "valid integer"),
    ({"up_kbps": "1500"}, "up_kbps", "valid integer"),
    ({"up_kbps": True}, "up_kbps", "valid integer"),
    ({"down_kbps": MIN_KBPS - 1}, "down_kbps", f"greater than or equal to {MIN_KBPS}"),
    ({"down_kbps": 1000, "per_client_down_kbps": 1001}, "per_client_down_kbps",
     "per_client_down_kbps=1001 exceeds"),
    ({"up_kbps": 500, "per_client_up_kbps": 600}, "per_client_up_kbps",
     "per_client_up_kbps=600 exceeds up_kbps"),
    ({"down_kbps": 1000, "lease_s": 0}, "lease_s", "lease_s: Input should be greater than 0"),
    ({"down_kbps": 1000, "lease_s": MAX_LEASE_S + 1}, "lease_s", "less than or equal"),
    ({"down_kbps": 1000, "lease_s": "60"}, "lease_s", "valid number"),
    ({"down_kbps": 1000, "lease_s": float("nan")}, "lease_s", "finite number"),
])
def test_bad_set_throttle_params_are_rejected_with_bad_params(params: dict[str, Any],
                                                              field: str | None,
                                                              fragment: str) -> None:
    """The agent's shaping takes the protocol's one contract: its code, field and wording."""
    with pytest.raises(ParamsError) as info:
        sp.validate_set_throttle(params, 7)
    assert (info.value.code, info.value.field) == ("bad_params", field)
    assert fragment in info.value.detail


def test_good_params_become_a_desired_state() -> None:
    d = sp.validate_set_throttle({"down_kbps": 2000, "up_kbps": 1000, "per_client_down_kbps": 500,
                                  "lease_s": 90}, 4)
    assert d == sp.Desired(4, 2000, 1000, 500, None, 90.0) and isinstance(d.lease_s, float)
    assert sp.validate_set_throttle({"per_client_up_kbps": 300}, 5).up_kbps is None
    lowest = sp.validate_set_throttle({"down_kbps": MIN_KBPS, "up_kbps": MAX_KBPS}, 6)
    assert (lowest.down_kbps, lowest.up_kbps) == (MIN_KBPS, MAX_KBPS)


def test_the_agent_keeps_no_bounds_of_its_own() -> None:
    """The bounds live in protocol/params.py only (issue 14: they used to disagree)."""
    assert (sp.MIN_KBPS, sp.MAX_KBPS) == (MIN_KBPS, MAX_KBPS)  # imported, not redefined
    for name in ("ParamError", "validate_clear_throttle", "MAX_LEASE_S", "SET_KEYS", "_rate"):
        assert not hasattr(sp, name), name
    assert sp.plan_direction(None, 1, [], {}) == sp.DirPlan(
        MAX_KBPS, sp.HtbClass(MAX_KBPS, MAX_KBPS))


def test_client_list_keeps_ipv4_only_sorted_and_unique() -> None:
    assert sp.client_ips(["10.0.0.10", "10.0.0.9", "fe80::1", "junk", " 10.0.0.9 "]) == [
        "10.0.0.9", "10.0.0.10"]


def test_plan_gives_every_client_a_class_capped_by_total() -> None:
    plan = sp.plan_direction(3000, 5000, ["10.0.0.2", "10.0.0.3"], {})
    assert plan is not None and plan.total == 3000
    assert {ip: m for ip, (m, _) in plan.clients.items()} == {"10.0.0.2": 0x100, "10.0.0.3": 0x101}
    assert all(c.ceil == 3000 and c.rate == 1000 for _, c in plan.clients.values())
    assert plan.default == sp.HtbClass(1000, 3000)
    assert sp.plan_direction(None, None, ["10.0.0.2"], {}) is None
    no_pc = sp.plan_direction(2000, None, ["10.0.0.2"], {})
    assert no_pc is not None and not no_pc.clients


def test_plan_keeps_existing_clients_in_their_classes() -> None:
    plan = sp.plan_direction(4000, 1000, ["10.0.0.2", "10.0.0.5"], {"10.0.0.5": 0x107,
                                                                   "10.0.0.9": 0x100})
    assert plan is not None
    assert plan.clients["10.0.0.5"][0] == 0x107 and plan.clients["10.0.0.2"][0] == 0x100


def _state_of(plan: sp.DirPlan, leaf: str) -> sp.DevState:
    classes = plan.classes()
    return sp.DevState(root_kind="htb", root_ours=True, classes=dict(classes),
                       leaves={m: sp.leaf_spec(leaf, c.ceil) for m, (_, c) in classes.items()
                               if m != sp.TOTAL},
                       filters={ip: (m, m) for ip, (m, _) in plan.clients.items()})


def test_diff_is_empty_when_the_kernel_already_matches() -> None:
    plan = sp.plan_direction(4000, 1000, ["10.0.0.2", "10.0.0.5"], {})
    assert plan is not None
    assert sp.diff(_state_of(plan, "pfifo"), plan, "pfifo") == []
    assert sp.diff(sp.DevState(), None, "pfifo") == []


def test_diff_changes_only_what_differs() -> None:
    old = sp.plan_direction(4000, 1000, ["10.0.0.2", "10.0.0.5"], {})
    assert old is not None
    state = _state_of(old, "fq_codel")
    new = sp.plan_direction(4000, 1000, ["10.0.0.5", "10.0.0.7"], state.client_minors())
    assert new is not None
    ops = sp.diff(state, new, "fq_codel")
    assert ops == [("del_filter", "256"), ("add_filter", "256", "10.0.0.7")]
    faster = sp.plan_direction(6000, 1000, ["10.0.0.2", "10.0.0.5"], state.client_minors())
    assert faster is not None
    ops = sp.diff(state, faster, "fq_codel")
    assert [o[:2] for o in ops] == [("change_class", "1"), ("change_class", "2")]  # clients as-is


def test_diff_builds_from_scratch_and_tears_down() -> None:
    plan = sp.plan_direction(2000, None, [], {})
    ops = sp.diff(sp.DevState(root_kind="pfifo_fast"), plan, "pfifo")
    assert [o[0] for o in ops] == ["del_root", "add_root", "add_class", "add_class", "leaf"]
    assert ops[-1] == ("leaf", "2", "pfifo:50")
    assert sp.diff(sp.DevState(root_kind="htb", root_ours=True), None, "pfifo") == [("del_root",)]


def test_tc_output_parsing_round_trips_with_rendered_commands() -> None:
    assert parse_rate_kbit("1500Kbit") == 1500 and parse_rate_kbit("2Mbit") == 2000
    assert parse_rate_kbit("1234Mbit") == 1_234_000 and parse_rate_kbit("800bit") == 1
    text = ("class htb 1:100 parent 1:1 leaf 100: prio 0 rate 666Kbit ceil 700Kbit burst 1599b\n"
            "class htb 1:1 root rate 2Mbit ceil 2Mbit burst 1600b cburst 1600b\n")
    assert parse_classes(text) == {0x100: (1, sp.HtbClass(666, 700)),
                                   1: (0, sp.HtbClass(2000, 2000))}
    qd = [{"kind": "htb", "handle": "1:", "root": True, "options": {"default": "0x2"}},
          {"kind": "pfifo", "handle": "2:", "parent": "1:2", "options": {"limit": 50}}]
    flt = [{"kind": "u32", "pref": 10, "options": {"fh": "800::100", "flowid": "1:100", "match": {
        "value": "a4d000b", "mask": "ffffffff", "off": 16}}}]
    st = parse_state(qd, text, flt, [], 16, "ifb0")
    assert st.root_ours and st.leaves == {2: "pfifo:50"} and st.filters == {"10.77.0.11": (256, 256)}
    cmds = render("br0", [("add_filter", "256", "10.77.0.11"), ("leaf", "2", "pfifo:50")], "dst",
                  "ifb0")
    assert " ".join(cmds[0]).endswith("match ip dst 10.77.0.11/32 flowid 1:100")
    assert cmds[1][-3:] == ["pfifo", "limit", "50"]


def test_batch_read_back_is_split_per_device() -> None:
    from agent.actuators.shaping import TcShaper

    out = "\n".join([
        '[{"kind":"htb","handle":"1:","dev":"br0","root":true,"options":{"default":"0x2"}},'
        '{"kind":"pfifo","handle":"2:","dev":"br0","parent":"1:2","options":{"limit":50}},'
        '{"kind":"ingress","handle":"ffff:","dev":"br0","parent":"ffff:fff1","options":{}},'
        '{"kind":"htb","handle":"1:","dev":"ifb0","root":true,"options":{"default":"0x2"}}]',
        "class htb 1:1 root rate 2Mbit ceil 2Mbit burst 1600b cburst 1600b ",
        "class htb 1:2 parent 1:1 leaf 2: prio 0 rate 2Mbit ceil 2Mbit burst 1600b ",
        "[]",
        "class htb 1:1 root rate 1Mbit ceil 1Mbit burst 1600b cburst 1600b ",
        "[]", "[]", "[]",
        '[{"kind":"u32","pref":1,"options":{"fh":"800::1","actions":[{"kind":"mirred",'
        '"to_dev":"ifb0"}]}}]'])
    st = TcShaper("br0", "ifb0")._parse_read(out, ["br0", "ifb0"])
    assert set(st.lan.classes) == {1, 2} and st.lan.leaves == {2: "pfifo:50"}
    assert st.lan.ingress and st.lan.redirect
    assert set(st.ifb.classes) == {1} and st.ifb.classes[1][1].rate == 1000
