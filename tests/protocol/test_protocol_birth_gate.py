"""The birth's gate fields (cmd_epoch, applied_version): optional, default 0, ignored by older
receivers; the reference agent fills them from its command gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import ValidationError

from agent.config import parse_config
from agent.transport.presence import build_birth
from protocol.codec import decode, decode_as, encode
from protocol.messages import Birth, Envelope
from protocol.topics import Topics

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "birth.json"
T = Topics()


def _golden() -> dict[str, object]:
    obj: dict[str, object] = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    return obj


def test_golden_birth_carries_the_gate_state() -> None:
    _, msg = decode(T, T.node("taman-kota", "tk-01", "birth"), EXAMPLE.read_bytes())
    assert isinstance(msg, Birth)
    assert (msg.cmd_epoch, msg.applied_version, msg.throttle_version) == (3, 7, 7)


def test_birth_of_an_older_agent_reads_zero() -> None:
    old = {k: v for k, v in _golden().items() if k not in ("cmd_epoch", "applied_version")}
    msg = decode_as(Birth, json.dumps(old).encode())
    assert (msg.cmd_epoch, msg.applied_version) == (0, 0)


@pytest.mark.parametrize("field", ["cmd_epoch", "applied_version"])
@pytest.mark.parametrize("bad", [-1, 2**63, 1.5, None])
def test_gate_fields_are_non_negative_64_bit_integers(field: str, bad: object) -> None:
    with pytest.raises(ValidationError):
        Birth.model_validate({**_golden(), field: bad})


class OlderBirth(Envelope):
    """A birth model as an older central knows it: without the gate fields."""

    KIND: ClassVar[str] = "birth"
    session: int
    throttle_version: int = 0


def test_an_older_receiver_ignores_the_new_fields() -> None:
    assert Birth.model_config.get("extra") == "ignore"
    msg = decode_as(OlderBirth, EXAMPLE.read_bytes())
    assert (msg.session, msg.throttle_version) == (42, 7)
    assert "cmd_epoch" not in msg.model_dump()


def test_reference_agent_builds_the_birth_from_its_gate_state() -> None:
    cfg = parse_config({"node": {"id": "n1", "site": "s1"}})
    b = build_birth(cfg, 4, throttle_version=2, outbox=(None, None), simulated=True,
                    cmd_epoch=9, applied_version=11)
    assert (b.cmd_epoch, b.applied_version, b.throttle_version) == (9, 11, 2)
    wire = json.loads(encode(b))
    assert (wire["cmd_epoch"], wire["applied_version"]) == (9, 11)
    assert build_birth(cfg, 4, throttle_version=0, outbox=(None, None),
                       simulated=True).cmd_epoch == 0
