"""The agent: sampling loop, outbox, MQTT session and commands, on two threads.

Threads per agent: paho's network thread and one loop thread (plus the probe pool for real
probes; simulated agents run probes inline). Paho callbacks only put events on a queue; the
loop thread owns the outbox, the forwarder and the command gate.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.clock import Clock, SyncedWall, monotonic, wall_ms
from agent.config import AgentConfig
from agent.controllers.commands import CommandController, Handler
from agent.controllers.services import NodeServices
from agent.controllers.shaping import (
    ShapingController,
    current_shaping,
    lease_tick,
    start_shaping,
)
from agent.fieldtools.snapshot import snapshot_writer
from agent.policy.commands import CommandGate
from agent.probes.base import Probe, ProbeRunner
from agent.probes.registry import build_probes
from agent.probes.sample import build_sample
from agent.systemd import Notifier
from agent.transport.forwarder import Forwarder
from agent.transport.outbox import Outbox
from agent.transport.presence import build_birth
from agent.transport.session import (
    Connected,
    Disconnected,
    InboundMessage,
    MqttSession,
    PubAck,
)
from agent.transport.url import resolve_target
from protocol.messages import (
    CentralState,
    Command,
    CommandAck,
    DeliveryReceipt,
    Event,
    Sample,
    Tele,
)

if TYPE_CHECKING:
    from agent.controllers.failover import FailoverController

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite"
_STOP = object()
_RESYNC = object()
_RECONNECT = object()


class Agent:
    """One node's agent; several can run in one process (the simulator runs 50)."""

    def __init__(self, cfg: AgentConfig, probes: list[Probe] | None = None, *,
                 simulated: bool = False, clock: Clock = monotonic) -> None:
        self.cfg = cfg
        self.simulated = simulated
        self.clock = clock
        self.probes = probes if probes is not None else build_probes(cfg)
        self.target = resolve_target(cfg)  # ConfigError now, not in a thread later
        self.state_dir = Path(cfg.agent.state_dir)
        self.notifier: Notifier | None = None
        self.shaping: ShapingController | None = None  # throttles; sample.shaping = .current()
        if cfg.shaping.enabled:
            self.shaping = ShapingController(cfg.shaping)
        self.samples_stored = 0
        #: hash of the node files applied at enrolment (agent.nodeapply), set by the CLI
        self.files_hash: str | None = None
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._runner: ProbeRunner | None = None
        self._wall_if_synced = SyncedWall(clock)
        self.commands = CommandController(cfg.node.site, cfg.node.id, self.state_dir, self, self,
                                          clock, trust=cfg.commands)
        self.session: MqttSession | None = None
        self.outbox: Outbox | None = None
        self.forwarder: Forwarder | None = None
        self.last_sample: Sample | None = None
        self.services = NodeServices(self, lambda: self._queue.put(_RECONNECT))
        self.snapshot = snapshot_writer(cfg, simulated=simulated, clock=clock)  # status file

    @property
    def gate(self) -> CommandGate:
        """The command gate (versions and epochs seen)."""
        return self.commands.gate

    @property
    def command_handlers(self) -> dict[str, Handler]:
        """Command kind -> handler (replace one to change what the node does)."""
        return self.commands.handlers

    @property
    def failover(self) -> FailoverController | None:
        """The failover controller while it runs (cfg.failover.enabled)."""
        return self.services.failover

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Open the outbox, start the loop thread and connect (non-blocking)."""
        if self._thread is not None:
            raise RuntimeError("agent already started")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        flush_after = self.cfg.outbox.flush_every * self.cfg.agent.sample_interval_s
        self.outbox = Outbox(self.state_dir / OUTBOX_FILE, self.cfg.outbox,
                             flush_after_s=flush_after, clock=self.clock)
        self.session = MqttSession(self.cfg, self.target, self._queue.put, clock=self.clock)
        self.forwarder = Forwarder(self.cfg, self.outbox, self._publish_tele)
        workers = 0 if self.simulated else max(1, min(4, len(self.probes)))  # sim: inline
        self._runner = ProbeRunner(self.probes, self.cfg.agent.probe_timeout_s, workers=workers)
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

    def loop_alive(self) -> bool:
        """True while the loop thread runs (between start and stop)."""
        return self._thread is not None and self._thread.is_alive()

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
        next_sample = self.clock()
        start_shaping(self.shaping)
        try:
            while not self._stop.is_set():
                calm_until = 0.0
                try:
                    if self.clock() >= next_sample:
                        next_sample = max(next_sample + interval, self.clock())
                        self._sample_once()
                        self.snapshot.write(self)
                    if self.outbox.flush_due():
                        self.outbox.flush(wall_ms=self._wall_if_synced())
                    self.forwarder.pump(self.clock())
                    for ev in lease_tick(self.shaping, self.clock()):
                        self._store_event(ev)
                    for ev in self.services.tick(self.clock()):
                        self._store_event(ev)
                except Exception:  # disk full, poison record, ...: log, keep the node alive
                    log.exception("agent loop error (continuing)")
                    calm_until = self.clock() + 1.0
                due = self.forwarder.next_due()
                wake = max(min(next_sample, due if due is not None else next_sample), calm_until)
                item = self._next_item(min(1.0, max(0.0, wake - self.clock())))
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

    def _sample_once(self) -> None:
        assert self.outbox is not None
        assert self._runner is not None
        results = self._runner.run_all(self.clock)
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
        if self.notifier and self.clock() - self.outbox.last_commit <= recent:
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
                self.resync_now()
            elif item is _RECONNECT:
                self.session.reconnect_now()
            elif isinstance(item, PubAck):
                self.forwarder.on_puback(item.mid, item.reason, self.clock())
            elif isinstance(item, Connected):
                self.forwarder.on_connected(item.session, self.clock())
                self.session.publish_online()
                self.publish_birth()
            elif isinstance(item, Disconnected):
                self.forwarder.on_disconnected()
            elif isinstance(item, InboundMessage):
                self._inbound(item)
            self.snapshot.observe(self, item)
        except Exception:
            log.exception("error handling %s", type(item).__name__)

    def _inbound(self, item: InboundMessage) -> None:
        assert self.forwarder is not None
        m = item.model
        if isinstance(m, CentralState):
            self.forwarder.on_central_state(m.instance, m.online, self.clock())
        elif isinstance(m, DeliveryReceipt):
            self.forwarder.on_receipt(m, self.clock())
        elif isinstance(m, Command):
            self.commands.on_command(m, item.received, item.expiry_s,
                                     clock_synced=self._wall_if_synced() is not None,
                                     raw=item.raw)

    # ------------------------------------------------------------ publishing
    def _publish_tele(self, tele: Tele) -> int:
        assert self.session is not None
        return int(self.session.publish("tele", tele).mid)

    def publish_birth(self) -> None:
        """Publish this session's birth (gate versions, outbox bounds, clock)."""
        assert self.session is not None and self.outbox is not None
        birth = build_birth(self.cfg, self.session.session,
                            throttle_version=(self.shaping.version if self.shaping is not None
                                              else self.gate.state.throttle_version),
                            outbox=self.outbox.bounds(), simulated=self.simulated,
                            cmd_epoch=self.gate.state.highest_epoch,
                            applied_version=self.gate.state.applied_version,
                            cmd_key_ids=self.commands.trust.ring.ids(),
                            epoch_proof=self.commands.trust.proof,
                            files_hash=self.files_hash)
        self.session.publish("birth", birth)

    def resync_now(self) -> None:
        """Re-publish the birth and re-send everything unreceipted (loop thread)."""
        assert self.forwarder is not None
        self.publish_birth()
        self.forwarder.resync()

    def send_ack(self, cmd: Command, ack: CommandAck) -> None:
        """Publish one ack of ``cmd`` (and keep it for the local status snapshot)."""
        assert self.session is not None
        self.session.publish("ack", ack)
        self.snapshot.on_ack(cmd, ack)
