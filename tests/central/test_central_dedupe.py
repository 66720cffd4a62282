"""The memory of committed tele batches: keyed by node topic, session and first seq as the
payload's head states them; bounded; copies in flight."""

from __future__ import annotations

import time

from central.collector.dedupe import HEAD_BYTES, Dedupe, Receipted, batch_key, tele_head
from protocol.codec import encode
from protocol.messages import Tele

RX = Receipted("s1", "n1", 1, ((0, 49),))
TOPIC = "kotanet/v1/node/s1/n1/tele"


def _tele(ts_ms: int, historical: bool, seq: int = 40, session: int = 7) -> bytes:
    return encode(Tele.model_validate({
        "site": "s1", "node": "n1", "ts_ms": ts_ms, "session": session, "seq": seq,
        "historical": historical,
        "samples": [{"seq": seq + i, "ts_ms": 1_700_000_000_000 + i} for i in range(3)]}))


def test_the_agents_re_send_has_other_bytes_and_the_same_key() -> None:
    first = _tele(int(time.time() * 1000), historical=False)
    again = _tele(int(time.time() * 1000) + 2345, historical=True)  # as Forwarder re-sends
    assert first != again
    assert tele_head(first) == tele_head(again) == (7, 40)
    assert batch_key(TOPIC, 7, 40) == batch_key(TOPIC, *tele_head(again))  # type: ignore[misc]


def test_the_key_tells_nodes_sessions_and_batches_apart() -> None:
    keys = {batch_key(TOPIC, 7, 40), batch_key("kotanet/v1/node/s1/n2/tele", 7, 40),
            batch_key(TOPIC, 8, 40), batch_key(TOPIC, 7, 41)}
    assert len(keys) == 4


def test_a_payload_without_a_head_has_no_key() -> None:
    assert tele_head(b'{"seq":0}') is None
    assert tele_head(b'{"session":"1","seq":0}') is None  # a string is not a session
    assert tele_head(b"x" * HEAD_BYTES + b'"session":1,"seq":0,') is None  # only the head
    assert tele_head(b'{"session": 1, "seq": 2}') == (1, 2)


def test_only_a_committed_key_matches() -> None:
    d = Dedupe()
    key = batch_key(TOPIC, 1, 0)
    d.begin(key)
    assert d.inflight(key) and d.committed(key) is None
    d.end(key, RX)
    assert not d.inflight(key) and d.committed(key) == RX
    assert d.committed(batch_key(TOPIC, 1, 50)) is None


def test_a_batch_that_was_not_receipted_is_not_remembered() -> None:
    d = Dedupe()
    key = batch_key(TOPIC, 1, 0)
    d.begin(key)
    d.begin(key)  # a copy in another batch
    d.end(key, None)
    assert d.inflight(key)
    d.end(key, None)
    assert not d.inflight(key) and d.committed(key) is None and len(d) == 0


def test_memory_is_bounded_least_recently_used_first() -> None:
    d = Dedupe(max_entries=3)
    keys = [batch_key(TOPIC, 1, i) for i in range(5)]
    for k in keys[:3]:
        d.begin(k)
        d.end(k, RX)
    assert d.committed(keys[0]) == RX  # used: now the newest
    for k in keys[3:]:
        d.begin(k)
        d.end(k, RX)
    assert len(d) == 3
    assert d.committed(keys[1]) is None and d.committed(keys[2]) is None
    assert d.committed(keys[0]) == RX and d.committed(keys[4]) == RX
