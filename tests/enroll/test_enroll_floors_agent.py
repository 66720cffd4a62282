"""The agent's half of the enrolment floors: `kotanet-agent enroll` raises the outbox seq floor
and the session counter in [agent] state_dir to what central answered, never lowers them, and
writes them before agent.toml; answers of an older central (no floor fields) still install."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.config import OutboxSection
from agent.enroll import EnrollFailure, _install, install_floors
from agent.runtime import OUTBOX_FILE
from agent.transport.outbox import Outbox
from agent.transport.session import SESSION_FILE
from agent.transport.statefile import DurableCounter, SeqFloor

SECRET = "s" * 43


def answer(state_dir: Path, **floors: Any) -> dict[str, Any]:
    """A central answer for node n1 whose agent.toml keeps its state in state_dir."""
    toml = (f'[node]\nid = "n1"\nsite = "s1"\n\n[agent]\nstate_dir = {json.dumps(str(state_dir))}'
            '\n\n[mqtt]\nurl = "mqtts://127.0.0.1:8883"\n')
    return {"node": "n1", "site": "s1", "username": "n1", "config_hash": "x", "auth": "password",
            "files": {"agent.toml": toml, "ca.crt": "PEM\n"}, **floors}


def on_disk(state_dir: Path) -> tuple[int, int]:
    """(seq floor, last session used) as the agent reads them at start."""
    return (SeqFloor(state_dir / f"{OUTBOX_FILE}.seqfloor").value,
            DurableCounter(state_dir / SESSION_FILE).value)


def test_enroll_never_lowers_a_floor_already_on_disk(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    SeqFloor(state / f"{OUTBOX_FILE}.seqfloor").raise_to(500)
    DurableCounter(state / SESSION_FILE).raise_to(20)
    install_floors(state, seq_floor=100, session_floor=5)  # central knows less than the node
    assert on_disk(state) == (500, 20)
    install_floors(state, seq_floor=0, session_floor=0)  # central has nothing of the node
    assert on_disk(state) == (500, 20)
    install_floors(state, seq_floor=900, session_floor=30)
    assert on_disk(state) == (900, 29)  # the counter holds the last session: next is 30
    install_floors(state, seq_floor=900, session_floor=30)  # the same answer again: unchanged
    assert on_disk(state) == (900, 29)


def test_the_agent_starts_at_the_floors_enroll_wrote(tmp_path: Path) -> None:
    state = tmp_path / "wiped"  # a re-flashed card: not even the state directory exists
    install_floors(state, seq_floor=12_345, session_floor=8)
    outbox = Outbox(state / OUTBOX_FILE, OutboxSection())
    try:
        assert outbox.next_seq == 12_345
    finally:
        outbox.close()
    assert DurableCounter(state / SESSION_FILE).next() == 8


def test_a_corrupt_session_counter_is_replaced_by_the_floor(tmp_path: Path) -> None:
    (tmp_path / SESSION_FILE).write_text("garbage\n")
    install_floors(tmp_path, seq_floor=0, session_floor=4)
    assert DurableCounter(tmp_path / SESSION_FILE).next() == 4


def test_an_answer_without_floors_installs_and_touches_no_state(tmp_path: Path) -> None:
    out, state = tmp_path / "etc", tmp_path / "state"
    out.mkdir()
    done, _ = _install(answer(state), out, SECRET, "n1")
    assert (done.seq_floor, done.session_floor) == (None, None)
    assert (out / "agent.toml").is_file() and not state.exists()


def test_floors_go_to_the_delivered_state_dir_before_agent_toml(tmp_path: Path) -> None:
    out, state = tmp_path / "etc", tmp_path / "state"
    out.mkdir()
    done, _ = _install(answer(state, seq_floor=77, session_floor=3), out, SECRET, "n1")
    assert (done.seq_floor, done.session_floor) == (77, 3)
    assert on_disk(state) == (77, 2)
    # a state_dir that cannot be written: no agent.toml, so no agent can run below the floors
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a directory")
    out2 = tmp_path / "etc2"
    out2.mkdir()
    with pytest.raises(OSError):
        _install(answer(blocked / "state", seq_floor=77, session_floor=3), out2, SECRET, "n1")
    assert not (out2 / "agent.toml").exists()


@pytest.mark.parametrize("bad", ["12", -1, 1.5, True, 2**63])
def test_a_malformed_floor_is_a_bad_answer(tmp_path: Path, bad: object) -> None:
    out = tmp_path / "etc"
    out.mkdir()
    with pytest.raises(EnrollFailure) as err:
        _install(answer(tmp_path / "state", seq_floor=bad), out, SECRET, "n1")
    assert err.value.code == "bad_response"
    assert not (out / "agent.toml").exists() and not (tmp_path / "state").exists()
