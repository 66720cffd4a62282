"""Fuzz the agent's command handler: the path a ``cmd`` payload takes on the node (decode as
the MQTT session does, signature check, gate, CommandController with recording fakes).

For any bytes only the codec's refusal (CodecError) escapes; every decoded command gets
exactly the acks the protocol allows (one final rejection, or ``accepted`` then ``applied`` or
``rejected``); a command whose signature does not verify changes nothing (gate state, state
files, key ring, the fake shaper/failover and the event queue untouched); an accepted command
replayed is refused as ``replayed``."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from agent.config import CommandsSection
from agent.controllers.cmdtrust import payload_of
from agent.controllers.commands import GATE_FILE, CommandController
from agent.controllers.shaping import Outcome
from agent.policy.commands import GATE_KINDS
from agent.policy.signature import KeyRing, check_signature
from agent.transport.statefile import write_json
from protocol.codec import CodecError, TopicMismatch, decode, decode_as
from protocol.messages import Command, CommandAck, Event
from protocol.params import ParamsError, validate_params
from protocol.signing import b64url, signing_bytes
from tests import cmdkeys
from tests.fuzz import strategies as fst
from tests.fuzz.checks import check_model
from tests.fuzz.harness import Handler, fuzz_test
from tests.fuzz.test_fuzz_params import VALID

CMD_TOPIC = fst.TOPICS.node(fst.SITE, fst.NODE, "cmd")
TRUST = CommandsSection.model_validate(cmdkeys.agent_commands())
UNSIGNED_FIELDS = ("key_id", "sig")
FINAL_STAGES = {"rejected", "expired", "superseded"}
PRE_GATE_CODES = {"unsigned", "unknown_key", "bad_signature"}


def _body() -> dict[str, Any]:
    return {k: v for k, v in fst.golden("cmd").items() if k not in UNSIGNED_FIELDS}


SIGNED = cmdkeys.signed(_body()).model_dump(mode="json", by_alias=True)


@dataclass(frozen=True)
class AgentCase:
    """One payload on the node's cmd topic, the gate state saved before, the clock's sync."""

    payload: bytes
    gate: Mapping[str, Any] = field(default_factory=dict)
    synced: bool = False


class Shaper:
    """Records set/clear_throttle; applies what protocol.params accepts."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], int]] = []

    def handle_command(self, kind: str, params: Mapping[str, Any], version: int,
                       now: float) -> Outcome:
        self.calls.append((kind, dict(params), version))
        try:
            validate_params(kind, params)
        except ParamsError as exc:
            return Outcome("rejected", "bad_params", str(exc), 0)
        return Outcome("applied", "ok", "", version)


class Failover:
    """Records manual overrides."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, float | None, str | None]] = []

    def force(self, kind: str, timeout_s: float | None = None,
              target: str | None = None) -> list[Event]:
        self.calls.append((kind, timeout_s, target))
        return []


class Host:
    """The agent as the handlers see it: recording controllers and event queue."""

    def __init__(self) -> None:
        self.shaping = Shaper()
        self.failover = Failover()
        self.events: list[tuple[str, str, str, dict[str, Any]]] = []

    def add_event(self, kind: str, severity: str, message: str, data: dict[str, Any]) -> None:
        self.events.append((kind, severity, message, data))


class Link:
    """Records acks, births and resyncs."""

    def __init__(self) -> None:
        self.acks: list[CommandAck] = []
        self.births = 0
        self.resyncs = 0

    def send_ack(self, cmd: Command, ack: CommandAck) -> None:
        self.acks.append(ack)

    def publish_birth(self) -> None:
        self.births += 1

    def resync_now(self) -> None:
        self.resyncs += 1


@dataclass
class Run:
    """What one command did."""

    cmd: Command
    refused: tuple[str, str] | None
    before: dict[str, Any]
    after: dict[str, Any]
    files: dict[str, str]
    files_after: dict[str, str]
    ring_before: dict[str, Any]
    ring_after: dict[str, Any]
    host: Host
    acks: list[CommandAck]
    replay_acks: list[CommandAck]


def _files(state: Path) -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(state.iterdir())}


def _handle(case: AgentCase) -> Run:
    try:  # as agent.transport.session does: a misaddressed command still reaches the gate
        _, model = decode(fst.TOPICS, CMD_TOPIC, case.payload)
    except TopicMismatch:
        model = decode_as(Command, case.payload)
    assert isinstance(model, Command), f"{type(model).__name__} decoded on the cmd topic"
    refused = check_signature(KeyRing.from_config(TRUST.keys or {}),
                              payload_of(model, case.payload), model.key_id, model.sig)
    with tempfile.TemporaryDirectory(prefix="kotanet-fuzz-cmd-") as tmp:
        state = Path(tmp)
        if case.gate:
            write_json(state / GATE_FILE, dict(case.gate))
        host, link = Host(), Link()
        ctl = CommandController(fst.SITE, fst.NODE, state, host, link, time.monotonic,
                                trust=TRUST)
        before, files, ring = asdict(ctl.gate.state), _files(state), ctl.trust.ring.to_json()
        ctl.on_command(model, time.monotonic(), None, clock_synced=case.synced,
                       raw=case.payload)
        after, files_after = asdict(ctl.gate.state), _files(state)
        acks = list(link.acks)
        replay: list[CommandAck] = []
        if [a.stage for a in acks][:1] == ["accepted"]:
            ctl.on_command(model, time.monotonic(), None, clock_synced=case.synced,
                           raw=case.payload)
            replay = link.acks[len(acks):]
        return Run(model, refused, before, after, files, files_after, ring,
                   ctl.trust.ring.to_json(), host, acks, replay)


def _check(case: AgentCase, run: Run) -> None:
    cmd, acks = run.cmd, run.acks
    for ack in [*acks, *run.replay_acks]:
        check_model(ack)
        assert (ack.site, ack.node, ack.cmd_id) == (fst.SITE, fst.NODE, cmd.cmd_id), ack
    stages = [a.stage for a in acks]
    assert (len(stages) == 1 and stages[0] in FINAL_STAGES) or (
        len(stages) == 2 and stages[0] == "accepted" and stages[1] in ("applied", "rejected")
    ), f"acks {stages} for one command"
    if run.refused is not None:
        assert stages == ["rejected"] and acks[0].code == run.refused[0], (stages, acks)
        assert run.after == run.before, "an unverified command moved the gate"
        assert run.files_after == run.files, "an unverified command wrote state"
        assert run.ring_after == run.ring_before, "an unverified command changed the key ring"
        assert not run.host.shaping.calls and not run.host.failover.calls
        assert not run.host.events
        return
    assert acks[-1].code not in PRE_GATE_CODES or cmd.kind == "announce_key", acks[-1]
    if stages[0] == "accepted":
        assert cmd.kind in GATE_KINDS and cmd.cmd_id in run.after["recent_ids"]
        assert run.after["highest_epoch"] == cmd.epoch
        assert [a.code for a in run.replay_acks] == ["replayed"], run.replay_acks
        assert [a.stage for a in run.replay_acks] == ["rejected"]
        try:  # the protocol's one contract decides the params, before any controller
            validate_params(cmd.kind, cmd.params)
        except ParamsError as exc:
            assert (acks[-1].stage, acks[-1].code) == ("rejected", exc.code), acks[-1]
            assert not run.host.shaping.calls and not run.host.failover.calls
    else:
        assert not run.host.shaping.calls and not run.host.failover.calls
        assert run.after == run.before, "a command the gate refused moved it"


# ------------------------------------------------------------------ inputs
kinds = st.one_of(st.sampled_from(sorted(GATE_KINDS)), st.text(max_size=12))
gates: st.SearchStrategy[dict[str, Any]] = st.one_of(st.just({}), st.fixed_dictionaries({
    "highest_epoch": st.integers(0, 12), "applied_version": st.integers(0, 12),
    "throttle_version": st.integers(0, 12),
    "recent_ids": st.lists(st.sampled_from([SIGNED["cmd_id"], "c-1", "c-2"]), max_size=3),
}))


def _cases(payloads: st.SearchStrategy[bytes]) -> st.SearchStrategy[AgentCase]:
    return st.builds(AgentCase, payloads, gates, st.booleans())


def _signed_payload(body: dict[str, Any], forge: bool) -> bytes:
    """``body`` signed as it will be sent (over its canonical JSON, hostile literals too)."""
    body = {**body, "key_id": cmdkeys.KEY_ID}
    text = fst.dump(body).encode("utf-8", "surrogatepass")
    try:
        sig = b64url(cmdkeys.KEY.sign(signing_bytes(text)))
    except ValueError:  # not canonicalisable: the agent must refuse it, send any signature
        sig = "A" * 86
    if forge:
        sig = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BA")
    return fst.dump({**body, "sig": sig}).encode("utf-8", "surrogatepass")


@st.composite
def mutated_signed(draw: st.DrawFn) -> bytes:
    """A command central signed, with 1-3 hostile mutations after signing."""
    obj: Any = json.loads(json.dumps(SIGNED))
    for _ in range(draw(st.sampled_from([1, 1, 2, 3]))):
        obj = fst.mutate(draw, obj)
    return fst.dump(obj).encode("utf-8", "surrogatepass")


@st.composite
def resigned(draw: st.DrawFn) -> bytes:
    """A command with any kind, hostile or valid params and gate fields, signed afterwards."""
    kind = draw(kinds)
    body = _body()
    if draw(st.booleans()):
        body["params"] = fst.hostile_params(draw)
    else:
        params = dict(VALID.get(kind, {}))
        if params and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(params)))
            params[key] = draw(st.one_of(fst.hostile_numbers, fst.leaves))
        body["params"] = params
    body.update(kind=kind, version=draw(st.integers(0, 14)), epoch=draw(st.integers(0, 14)),
                cmd_id=draw(st.sampled_from([body["cmd_id"], "c-1", "c-2"])))
    if draw(st.integers(0, 5)) == 0:
        body["node"] = draw(st.sampled_from(["tk-02", fst.NODE.upper(), ""]))
    if draw(st.integers(0, 5)) == 0:
        body["expires_at_ms"] = body["issued_at_ms"] - draw(st.integers(0, 10))
    return _signed_payload(body, forge=draw(st.integers(0, 5)) == 0)


raw_payloads = st.one_of(
    st.binary(max_size=2048),
    fst.raw_bytes.map(lambda c: c.payload),
    st.just(json.dumps(SIGNED).encode()).flatmap(
        lambda b: st.integers(0, len(b)).map(lambda i: b[:i])),
)

HANDLER = Handler("agent.on_command", _handle, refusals=(CodecError,), check=_check)

test_raw_bytes = fuzz_test(HANDLER, "raw_bytes", _cases(raw_payloads))
test_json_trees = fuzz_test(HANDLER, "json_trees", _cases(fst.json_trees().map(lambda c: c.payload)))
test_mutated_signed = fuzz_test(HANDLER, "mutated_signed", _cases(mutated_signed()))
test_resigned_params = fuzz_test(HANDLER, "resigned_params", _cases(resigned()))
