"""Record seqs of a Tele batch: filled from Tele.seq, validated, never reused in one batch."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from protocol.codec import InvalidMessage, decode_as, encode
from protocol.messages import DeliveryReceipt, Event, Sample, Tele

ENV: dict[str, Any] = {"site": "taman-kota", "node": "tk-01", "ts_ms": 1, "session": 1}


def test_missing_record_seqs_are_filled_samples_then_events() -> None:
    tele = Tele(**ENV, seq=10, samples=[Sample(ts_ms=1), Sample(ts_ms=2)],
                events=[Event(ts_ms=3, kind="boot")])
    assert [s.seq for s in tele.samples] == [10, 11]
    assert [e.seq for e in tele.events] == [12]
    assert tele.record_seqs() == [10, 11, 12]
    wire = json.loads(encode(tele))
    assert [s["seq"] for s in wire["samples"]] == [10, 11] and wire["events"][0]["seq"] == 12


def test_interleaved_explicit_seqs_are_kept() -> None:
    tele = Tele(**ENV, seq=20, samples=[Sample(seq=20, ts_ms=1), Sample(seq=22, ts_ms=3)],
                events=[Event(seq=21, ts_ms=2, kind="failover")])
    assert sorted(tele.record_seqs()) == [20, 21, 22]


def test_fill_continues_after_an_explicit_seq() -> None:
    tele = Tele(**ENV, seq=5, samples=[Sample(seq=5, ts_ms=1), Sample(seq=9, ts_ms=2),
                                       Sample(ts_ms=3)])
    assert tele.record_seqs() == [5, 9, 10]


@pytest.mark.parametrize("kwargs,msg", [
    ({"seq": 4, "samples": [{"seq": 5, "ts_ms": 1}]}, "lowest record seq"),
    ({"seq": 6, "samples": [{"seq": 6, "ts_ms": 1}, {"seq": 5, "ts_ms": 2}]}, "lowest record seq"),
    ({"seq": 5, "samples": [{"seq": 5, "ts_ms": 1}], "events": [{"seq": 5, "ts_ms": 1,
                                                                  "kind": "x"}]}, "duplicate"),
    ({"seq": 5, "dropped": [[9, 3, "overflow"]]}, "to_seq < from_seq"),
    ({"seq": 2**63 - 1, "samples": [{"ts_ms": 1}, {"ts_ms": 2}]}, "2**63"),
])
def test_inconsistent_seqs_are_invalid(kwargs: dict[str, Any], msg: str) -> None:
    with pytest.raises(ValidationError, match=msg.replace("*", r"\*")):
        Tele(**ENV, **kwargs)
    with pytest.raises(InvalidMessage, match=msg.replace("*", r"\*")):
        decode_as(Tele, json.dumps({"schema": "kotanet.tele/1", **ENV, **kwargs}).encode())


def test_largest_seq_is_accepted() -> None:
    tele = Tele(**ENV, seq=2**63 - 1, samples=[Sample(ts_ms=1)])
    assert tele.record_seqs() == [2**63 - 1]


def test_batch_with_only_dropped_ranges() -> None:
    tele = Tele(**ENV, seq=300, dropped=[(100, 199, "age"), (200, 299, "overflow")])
    assert tele.record_seqs() == []
    assert decode_as(Tele, encode(tele)) == tele


def test_receipt_ranges_must_be_ordered() -> None:
    env = {k: v for k, v in ENV.items() if k != "session"}
    assert DeliveryReceipt(**env, session=1, acked=[(7, 7)]).acked == [(7, 7)]
    with pytest.raises(ValidationError, match="to_seq < from_seq"):
        DeliveryReceipt(**env, session=1, acked=[(8, 7)])
    with pytest.raises(ValidationError):
        DeliveryReceipt(**env, session=1, acked=[(-1, 7)])
