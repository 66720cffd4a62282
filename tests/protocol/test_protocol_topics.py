"""Topics: build/parse round trip, id rules, prefixes, filters."""

from __future__ import annotations

import pytest

from protocol.topics import (
    DOWNLINK_KINDS,
    NODE_KINDS,
    UPLINK_KINDS,
    CentralTopic,
    NodeTopic,
    TopicError,
    Topics,
    check_id,
    is_valid_id,
)


@pytest.mark.parametrize("kind", NODE_KINDS)
@pytest.mark.parametrize("prefix", ["kotanet/v1", "sampit/kotanet/v1", "/kotanet/v1/"])
def test_node_topic_round_trip(kind: str, prefix: str) -> None:
    t = Topics(prefix)
    topic = t.node("taman-kota", "tk_01.a", kind)  # type: ignore[arg-type]
    assert topic == f"{prefix.strip('/')}/node/taman-kota/tk_01.a/{kind}"
    assert t.parse(topic) == NodeTopic(site="taman-kota", node="tk_01.a", kind=kind)  # type: ignore[arg-type]


def test_default_topics_are_exactly_the_design_table() -> None:
    t = Topics()
    assert t.node("s1", "n1", "tele") == "kotanet/v1/node/s1/n1/tele"
    assert t.central_state("c1") == "kotanet/v1/central/c1/state"
    assert t.parse("kotanet/v1/central/c1/state") == CentralTopic(instance="c1")
    assert set(UPLINK_KINDS) | set(DOWNLINK_KINDS) == set(NODE_KINDS)
    assert not set(UPLINK_KINDS) & set(DOWNLINK_KINDS)


@pytest.mark.parametrize("bad", ["", "a/b", "a+", "#", "+", "tk#1", "-lead", ".hidden",
                                 "x" * 65, "spa ce", "sampit/", "é"])
def test_bad_ids_are_rejected_everywhere(bad: str) -> None:
    t = Topics()
    assert not is_valid_id(bad)
    with pytest.raises(TopicError):
        check_id(bad, "node")
    with pytest.raises(TopicError):
        t.node("taman-kota", bad, "tele")
    with pytest.raises(TopicError):
        t.node(bad, "tk-01", "birth")
    with pytest.raises(TopicError):
        t.central_state(bad)


def test_longest_id_is_accepted() -> None:
    assert is_valid_id("a" * 64)
    assert check_id("A9_.-") == "A9_.-"


def test_error_message_says_what_and_why() -> None:
    with pytest.raises(TopicError, match=r"invalid node 'tk/01'.*no '/', '\+', '#'"):
        check_id("tk/01", "node")


@pytest.mark.parametrize("topic", [
    "kotanet/v2/node/s/n/tele",
    "kotanet/v1/node/s/n/unknown",
    "kotanet/v1/node/s/n",
    "kotanet/v1/node/s/+/tele",
    "kotanet/v1/node/s/#",
    "kotanet/v1/central/c1/birth",
    "kotanet/v1/central/c1/state/x",
    "kotanet/v1",
    "",
])
def test_parse_rejects_non_v1_topics(topic: str) -> None:
    with pytest.raises(TopicError):
        Topics().parse(topic)


def test_parse_rejects_other_prefix() -> None:
    with pytest.raises(TopicError, match="not under prefix"):
        Topics("city/kotanet/v1").parse("kotanet/v1/node/s/n/tele")


@pytest.mark.parametrize("prefix", ["", "/", "a/+/b", "a/#", "$SYS/kotanet"])
def test_bad_prefix_is_rejected(prefix: str) -> None:
    with pytest.raises(TopicError):
        Topics(prefix)


def test_unknown_kind_cannot_be_built() -> None:
    with pytest.raises(TopicError):
        Topics().node("s", "n", "telemetry")  # type: ignore[arg-type]
    with pytest.raises(TopicError):
        Topics().node_filter("telemetry")  # type: ignore[arg-type]


def test_filters_and_shared_subscription() -> None:
    t = Topics()
    assert t.node_filter("tele") == "kotanet/v1/node/+/+/tele"
    assert t.node_filter("cmd", site="taman-kota") == "kotanet/v1/node/taman-kota/+/cmd"
    assert t.all_central_states() == "kotanet/v1/central/+/state"
    assert t.shared(t.node_filter("tele")) == "$share/collectors/kotanet/v1/node/+/+/tele"
