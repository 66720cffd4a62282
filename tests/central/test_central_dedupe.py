"""The memory of committed tele batches: exact bytes only, bounded, copies in flight."""

from __future__ import annotations

from central.collector.dedupe import Dedupe, Receipted, batch_key

RX = Receipted("s1", "n1", 1, ((0, 49),))


def test_only_the_same_bytes_on_the_same_topic_match() -> None:
    d = Dedupe()
    key = batch_key("kotanet/v1/node/s1/n1/tele", b'{"seq":0}')
    d.begin(key)
    assert d.inflight(key) and d.committed(key) is None
    d.end(key, RX)
    assert not d.inflight(key) and d.committed(key) == RX
    assert d.committed(batch_key("kotanet/v1/node/s1/n1/tele", b'{"seq":0} ')) is None
    assert d.committed(batch_key("kotanet/v1/node/s1/n2/tele", b'{"seq":0}')) is None


def test_a_batch_that_was_not_receipted_is_not_remembered() -> None:
    d = Dedupe()
    key = batch_key("t", b"x")
    d.begin(key)
    d.begin(key)  # a copy in another batch
    d.end(key, None)
    assert d.inflight(key)
    d.end(key, None)
    assert not d.inflight(key) and d.committed(key) is None and len(d) == 0


def test_memory_is_bounded_least_recently_used_first() -> None:
    d = Dedupe(max_entries=3)
    keys = [batch_key("t", bytes([i])) for i in range(5)]
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
