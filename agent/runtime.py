"""The agent: sampling loop, outbox, MQTT session and commands, on two threads.

Threads per agent: paho's network thread and one loop thread (plus the probe pool for real
probes; simulated agents run probes inline). Paho callbacks only put events on a queue; the
loop thread owns the outbox, the forwarder and the command gate.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from agent.commands_wiring import current_shaping, lease_tick, start_shaping, wire_commands
from agent.config import AgentConfig
from agent.fieldtools.snapshot import snapshot_writer
from agent.node_services import NodeServices
from agent.policy.commands import CommandGate, GateState, local_deadline
from agent.probes.base import Probe, ProbeRunner
from agent.probes.registry import build_probes
from agent.sample import build_sample, run_inline
from agent.systemd import Notifier
from agent.transport.forwarder import Forwarder
from agent.transport.outbox import Outbox
from agent.transport.presence import build_birth, clock_synced, wall_ms
from agent.transport.session import Connected, Disconnected, Inbound, PubAck, Session
from agent.transport.statefile import read_json, write_json
from agent.transport.url import resolve_target
from protocol.messages import CentralState, Command, CommandAck, DeliveryReceipt, Event

if TYPE_CHECKING:
    from agent.shaping import ShapingController

log = logging.getLogger(__name__)

Handler = Callable[[Command], tuple[str, str] | tuple[str, str, str]]  # (stage, code[, detail])
GATE_FILE = "commands.json"
OUTBOX_FILE = "outbox.sqlite"
SYNC_RECHECK_S = 60.0
#: After a command from an older leader epoch (stale_epoch), re-publish the birth (which carries
#: the gate's epoch) at most this often, so a central whose database was lost catches up
#: without waiting for the node's next reconnect.
STALE_BIRTH_INTERVAL_S = 30.0
_STOP = object()
_RESYNC = object()
_RECONNECT = object()


class Agent:
    """One node's agent; several can run in one process (the simulator runs 50)."""

    def __init__(self, cfg: AgentConfig, probes: list[Probe] | None = None, *,
                 simulated: bool = False, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.simulated = simulated
        self._clock = clock
        self.probes = probes if probes is not None else build_probes(cfg)
        self.target = resolve_target(cfg)  # ConfigError now, not in a thread later
        self.state_dir = Path(cfg.agent.state_dir)
        self.command_handlers: dict[str, Handler] = {}
        self.notifier: Notifier | None = None
        self.shaping: ShapingController | None = None  # throttles; sample.shaping = .current()
        if cfg.shaping.enabled:  # imported only when configured (tc actuator, policy)
            from agent.shaping import ShapingController

            self.shaping = ShapingController(cfg.shaping)
        self.samples_stored = 0
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._runner: ProbeRunner | None = None
        self._synced = (False, -SYNC_RECHECK_S)
        self._stale_birth_at = -STALE_BIRTH_INTERVAL_S
        saved = read_json(self.state_dir / GATE_FILE) or {}
        self.gate = CommandGate(cfg.node.site, cfg.node.id, GateState(
            **{k: int(v) for k, v in saved.items() if k in GateState.__dataclass_fields__}))
        self.session: Session | None = None
        self.outbox: Outbox | None = None
        self.forwarder: Forwarder | None = None
        self.failover: Any = None  # FailoverController when cfg.failover.enabled
        self.last_sample: Any = None
        self.services = NodeServices(self, lambda: self._queue.put(_RECONNECT))
        self.snapshot = snapshot_writer(cfg, simulated=simulated, clock=clock)  # status file
        wire_commands(self, clock)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Open the outbox, start the loop thread and connect (non-blocking)."""
        if self._thread is not None:
            raise RuntimeError("agent already started")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        flush_after = self.cfg.outbox.flush_every * self.cfg.agent.sample_interval_s
        self.outbox = Outbox(self.state_dir / OUTBOX_FILE, self.cfg.outbox,
                             flush_after_s=flush_after, clock=self._clock)
        self.session = Session(self.cfg, self.target, self._queue.put, clock=self._clock)
        self.forwarder = Forwarder(self.cfg, self.outbox, self._publish_tele)
        if not self.simulated:
            self._runner = ProbeRunner(self.probes, self.cfg.agent.probe_timeout_s,
                                       workers=max(1, min(4, len(self.probes))))
        self._stop.clear()
        self.session.start()  # events queue up until the loop thread runs
        if self.notifier:
            self.notifier.ready(f"node {self.cfg.node.id} started")
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"agent-{self.cfg.node.id}")
        self._thread.start()
        for ev in self.services.start():
            self._queue.put(ev)

    def request_resync(self) -> None:
        """Re-publish birth and re-send everything unreceipted (thread-safe)."""
        self._queue.put(_RESYNC)

    def stop(self) -> None:
        """Clean stop: final outbox flush, retained offline state, DISCONNECT; joins threads."""
        if self.notifier:
            self.notifier.stopping()
        self._stop.set()
        self._queue.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout=self.cfg.agent.probe_timeout_s + 10)
            if self._thread.is_alive():
                log.error("agent loop did not stop in time")
            self._thread = None
        self.services.close()
        if self.session is not None:
            self.session.stop()
        if self._runner is not None:
            self._runner.close()
            self._runner = None

    def run_forever(self) -> None:
        """Start, block until SIGTERM/SIGINT, then stop cleanly (RuntimeError if the loop died)."""
        done = threading.Event()
        died = False

        def on_signal(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping", signum)
            done.set()

        old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            while not done.wait(1.0):
                if self._thread is None or not self._thread.is_alive():
                    log.error("agent loop died; stopping")
                    died = True
                    break
        finally:
            self.stop()
            for s, h in old.items():
                signal.signal(s, h)
        if died:
            raise RuntimeError("agent loop died (see log)")

    @property
    def session_id(self) -> int:
        """The current MQTT session number (0 before the first connect)."""
        return self.session.session if self.session else 0

    def add_event(self, kind: str, severity: str, message: str, data: dict[str, Any]) -> None:
        """Queue an event for the outbox (thread-safe); bad fields raise ValueError here."""
        ev = Event.model_validate({"ts_ms": wall_ms(), "kind": kind, "severity": severity,
                                   "message": message, "data": data})
        self._queue.put(ev)

    # ------------------------------------------------------------ loop thread
    def _run(self) -> None:
        assert self.outbox is not None and self.forwarder is not None
        interval = self.cfg.agent.sample_interval_s
        next_sample = self._clock()
        start_shaping(self.shaping)
        try:
            while not self._stop.is_set():
                calm_until = 0.0
                try:
                    if self._clock() >= next_sample:
                        next_sample = max(next_sample + interval, self._clock())
                        self._sample_once()
                        self.snapshot.write(self)
                    if self.outbox.flush_due():
                        self.outbox.flush(wall_ms=self._wall_if_synced())
                    self.forwarder.pump(self._clock())
                    for ev in lease_tick(self.shaping, self._clock()):
                        self._store_event(ev)
                    for ev in self.services.tick(self._clock()):
                        self._store_event(ev)
                except Exception:  # disk full, poison record, ...: log, keep the node alive
                    log.exception("agent loop error (continuing)")
                    calm_until = self._clock() + 1.0
                due = self.forwarder.next_due()
                wake = max(min(next_sample, due if due is not None else next_sample), calm_until)
                item = self._next_item(min(1.0, max(0.0, wake - self._clock())))
                while item is not None and item is not _STOP:
                    self._handle(item)
                    item = self._next_item(0.0)
        finally:
            self._drain_events()
            self.outbox.close()

    def _next_item(self, timeout: float) -> object | None:
        try:
            return self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return None

    def _drain_events(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, Event):
                self._store_event(item)

    def _wall_if_synced(self) -> int | None:
        synced, checked = self._synced
        if self._clock() - checked >= SYNC_RECHECK_S:
            synced = clock_synced()
            self._synced = (synced, self._clock())
        return wall_ms() if synced else None

    def _sample_once(self) -> None:
        assert self.outbox is not None
        results = (self._runner.run_all(self._clock) if self._runner is not None
                   else run_inline(self.probes, self._clock))
        sample, events = build_sample(results, wall_ms(), current_shaping(self.shaping))
        self.last_sample = sample
        self.outbox.add("sample", sample.ts_ms,
                        sample.model_dump(mode="json", exclude={"seq"}, exclude_none=True))
        for ev in events:
            self._store_event(ev)
        self.samples_stored += 1
        if self.samples_stored == 1:  # a fresh node shows up at once, not after flush_every
            self.outbox.flush(wall_ms=self._wall_if_synced())
        recent = self.outbox.flush_after_s + self.cfg.agent.sample_interval_s
        if self.notifier and self._clock() - self.outbox.last_commit <= recent:
            self.notifier.watchdog()  # only while the disk really takes our writes

    def _store_event(self, ev: Event) -> None:
        assert self.outbox is not None
        self.outbox.add("event", ev.ts_ms, ev.model_dump(mode="json", exclude={"seq"}),
                        urgent=ev.severity != "info")

    def _handle(self, item: object) -> None:
        """Dispatch one queued item; an error in one handler never stops the loop."""
        assert self.forwarder is not None and self.session is not None
        try:
            if isinstance(item, Event):
                self._store_event(item)
            elif item is _RESYNC:
                self._publish_birth()
                self.forwarder.resync()
            elif item is _RECONNECT:
                self.session.reconnect_now()
            elif isinstance(item, PubAck):
                self.forwarder.on_puback(item.mid, item.reason, self._clock())
            elif isinstance(item, Connected):
                self.forwarder.on_connected(item.session, self._clock())
                self.session.publish_online()
                self._publish_birth()
            elif isinstance(item, Disconnected):
                self.forwarder.on_disconnected()
            elif isinstance(item, Inbound):
                self._inbound(item)
            self.snapshot.observe(self, item)
        except Exception:
            log.exception("error handling %s", type(item).__name__)

    def _inbound(self, item: Inbound) -> None:
        assert self.forwarder is not None
        m = item.model
        if isinstance(m, CentralState):
            self.forwarder.on_central_state(m.instance, m.online, self._clock())
        elif isinstance(m, DeliveryReceipt):
            self.forwarder.on_receipt(m)
        elif isinstance(m, Command):
            self._command(m, item)

    # ------------------------------------------------------------ publishing
    def _publish_tele(self, tele: Any) -> int:
        assert self.session is not None
        return int(self.session.publish("tele", tele).mid)

    def _publish_birth(self) -> None:
        assert self.session is not None and self.outbox is not None
        birth = build_birth(self.cfg, self.session.session,
                            throttle_version=(self.shaping.version if self.shaping is not None
                                              else self.gate.state.throttle_version),
                            outbox=self.outbox.bounds(), simulated=self.simulated,
                            cmd_epoch=self.gate.state.highest_epoch,
                            applied_version=self.gate.state.applied_version)
        self.session.publish("birth", birth)

    def _ack(self, cmd: Command, stage: str, code: str, detail: str = "") -> None:
        assert self.session is not None
        ack = CommandAck.model_validate({
            "site": self.cfg.node.site, "node": self.cfg.node.id, "ts_ms": wall_ms(),
            "cmd_id": cmd.cmd_id, "stage": stage, "code": code, "detail": detail[:500],
            "applied_version": self.gate.state.applied_version})
        self.session.publish("ack", ack)
        self.snapshot.on_ack(cmd, ack)

    # ------------------------------------------------------------ commands
    def _command(self, cmd: Command, item: Inbound) -> None:
        assert self.forwarder is not None
        before = asdict(self.gate.state)
        deadline = local_deadline(cmd, item.received, item.expiry_s)
        synced = self._wall_if_synced() is not None
        d = self.gate.decide(cmd, deadline=deadline, now=self._clock(), wall_ms=wall_ms(),
                             clock_synced=synced)
        log.info("command %s %s v%d: %s %s", cmd.cmd_id, cmd.kind, cmd.version, d.stage, d.code)
        if d.accepted:
            self._ack(cmd, "accepted", "ok")
            stage, code, detail = self._execute(cmd)
            if stage == "applied":
                self.gate.mark_applied(cmd)
            self._ack(cmd, stage, code, detail)
        else:
            self._ack(cmd, d.stage, d.code, d.detail)
            if d.code == "stale_epoch":
                self._birth_after_stale_epoch(cmd)
        if asdict(self.gate.state) != before:
            write_json(self.state_dir / GATE_FILE, asdict(self.gate.state))

    def _birth_after_stale_epoch(self, cmd: Command) -> None:
        now = self._clock()
        if now - self._stale_birth_at < STALE_BIRTH_INTERVAL_S:
            return
        self._stale_birth_at = now
        log.warning("command %s has epoch %d, below the %d this node has seen (an old leader, or "
                    "central lost its database): re-publishing the birth so central can catch up",
                    cmd.cmd_id, cmd.epoch, self.gate.state.highest_epoch)
        self._publish_birth()

    def _execute(self, cmd: Command) -> tuple[str, str, str]:
        assert self.forwarder is not None
        if cmd.kind == "resync" and "resync" not in self.command_handlers:
            self._publish_birth()
            self.forwarder.resync()
            return "applied", "ok", ""
        handler = self.command_handlers.get(cmd.kind)
        if handler is None:
            return "rejected", "unsupported", f"no handler for {cmd.kind!r} on this node"
        try:
            res = handler(cmd)
            stage, code = res[0], res[1]
            detail = str(res[2]) if len(res) > 2 else ""
        except Exception as exc:
            log.exception("handler for %s failed", cmd.kind)
            return "rejected", "handler_error", f"{type(exc).__name__}: {exc}"
        if stage not in ("applied", "rejected"):
            log.error("handler for %s returned stage %r", cmd.kind, stage)
            return "rejected", "handler_error", f"handler returned stage {stage!r}"
        return stage, code, detail
