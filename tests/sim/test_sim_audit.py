"""kotanet-sim's audit file: every seq handed out, only for nodes whose state dir asks for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import OutboxSection
from agent.sim.audit import AUDIT_FILE, enable_if_requested, read_audit
from agent.transport.outbox import Outbox


def test_audit_lists_seqs_handed_out_even_if_never_written(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Outbox, "trace", None)
    audited, quiet = tmp_path / "a", tmp_path / "b"
    for d in (audited, quiet):
        d.mkdir()
    assert not enable_if_requested([audited, quiet])
    (audited / AUDIT_FILE).touch()
    assert enable_if_requested([audited, quiet])
    obs = [Outbox(d / "outbox.sqlite", OutboxSection(flush_every=50)) for d in (audited, quiet)]
    seqs = [obs[0].add("sample", i, {"ts_ms": i}) for i in range(3)]
    ev = obs[0].add("event", 9, {"kind": "note", "severity": "info"})
    obs[1].add("sample", 1, {"ts_ms": 1})
    assert read_audit(audited) == {*seqs, ev}  # in RAM, not on disk, yet listed
    assert read_audit(audited, "event") == {ev}
    assert read_audit(quiet) == set() and not (quiet / AUDIT_FILE).exists()
