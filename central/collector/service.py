"""MQTT collector: network thread -> bounded queue -> decode thread -> commit thread (commit,
rx, manual ack).

The hand-off queue is bounded by messages and bytes; when it is full the network thread waits
for room (the broker holds the rest: back-pressure, not refusal) and refuses a message without
a receipt only if no room came within half a keepalive. Decoding a batch and committing the
previous one overlap (SQLite and PostgreSQL work outside the GIL); receipts go out strictly
after commit, PUBACKs in arrival order.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from central.clock import wall_ms
from central.collector.ack_order import AckSequencer
from central.collector.dedupe import Dedupe, Receipted, batch_key, tele_head
from central.collector.ingest import Ingest
from central.collector.isolate import accept_one, node_of, write_isolated
from central.collector.limits import NodeLimiter
from central.collector.mqtt_conn import configure_client, share_group, tcp_nodelay
from central.collector.stats import Stats
from central.config import CentralConfig
from central.storage.base import Incoming, Storage, StorageError
from protocol.codec import encode
from protocol.messages import CentralState, DeliveryReceipt, Tele
from protocol.topics import Topics

log = logging.getLogger(__name__)

WRITE_RETRIES = 3


def seq_ranges(seqs: list[int]) -> list[tuple[int, int]]:
    """Compress seqs into sorted inclusive [from, to] ranges."""
    out: list[tuple[int, int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1] = (out[-1][0], s)
        else:
            out.append((s, s))
    return out


@dataclass(frozen=True)
class _Item:
    number: int  # arrival order (AckSequencer)
    gen: int
    mid: int
    qos: int
    topic: str
    payload: bytes
    received_ms: int


@dataclass
class _Batch:
    """Items taken off the queue together: decoded messages and their dedupe keys."""

    items: list[_Item]
    incoming: list[Incoming]
    keys: dict[int, bytes]  # id(Incoming) -> dedupe key of a tele to remember once receipted
    repeats: list[Receipted]  # committed before: receipt again, nothing to write
    copies: list[bytes]  # keys of copies of a batch on its way: receipted once it is committed


_STOP = object()
# Writer batches: at most this many payload bytes (a bound on decoded models in memory).
BATCH_MAX_BYTES = 2 * 1024 * 1024


class Collector:
    """One central collector instance; share the load with others through $share/<secret group>."""

    def __init__(self, cfg: CentralConfig, storage: Storage, stats: Stats | None = None) -> None:
        self.cfg = cfg
        self.instance = cfg.instance_id()
        self.epoch = 0
        self.storage = storage
        self.stats = stats or Stats()
        self.topics = Topics(cfg.topic_prefix)
        self.ingest = Ingest(cfg, self.stats)
        self.limiter = NodeLimiter(cfg.limits)
        self.ready = threading.Event()
        self._listeners: list[Callable[[Incoming], None]] = []
        self._gen = 0
        self._sub_mid: int | None = None
        self._stopping = False
        # Bounded by count and bytes. Receive Maximum alone does not bound it: mosquitto 2.0.11
        # lets the in-flight window grow after manual PUBACKs.
        qmax = cfg.storage.queue_max
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=qmax + 1)  # +1: room for _STOP
        self._qbytes, self._qmax_bytes = 0, cfg.storage.queue_max_mb * 1024 * 1024
        self._qlock = threading.Lock()
        self._room = threading.Condition(self._qlock)  # signalled when the queue drains
        self._block_s = min(10.0, cfg.mqtt.keepalive_s / 2)
        self.stats.queue_max = qmax
        self.stats.depth_fn = self._queue.qsize
        self.dedupe = Dedupe()
        self._decoded: queue.Queue[Any] = queue.Queue(maxsize=1)  # decode -> commit stage
        self._writer = threading.Thread(target=self._run_writer, name="central-decode",
                                        daemon=True)
        self._committer = threading.Thread(target=self._run_committer, name="central-commit",
                                           daemon=True)
        self.client = self._make_client()
        self._acks = AckSequencer(lambda mid, qos: self.client.ack(mid, qos), lambda: self._gen)

    # ------------------------------------------------------------ MQTT side (network thread)
    def _state_payload(self, online: bool) -> bytes:
        return encode(CentralState.model_validate(
            {"instance": self.instance, "online": online, "epoch": self.epoch,
             "ts_ms": wall_ms()}))

    def set_epoch(self, epoch: int) -> None:
        """Publish the leader epoch in this instance's retained state (0 = not the leader)."""
        if epoch == self.epoch:
            return
        self.epoch = epoch
        if self.stats_connected():
            self.client.publish(self.topics.central_state(self.instance),
                                self._state_payload(True), qos=1, retain=True)

    def stats_connected(self) -> bool:
        """True while the MQTT connection is up."""
        return bool(self.client.is_connected())

    def _make_client(self) -> mqtt.Client:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"central-{self.instance}",
                        protocol=mqtt.MQTTv5, manual_ack=True)
        self._addr = configure_client(c, self.cfg)
        c.will_set(self.topics.central_state(self.instance), self._state_payload(False),
                   qos=1, retain=True)
        c.reconnect_delay_set(int(max(1, self.cfg.mqtt.reconnect_min_s)),
                              int(max(1, self.cfg.mqtt.reconnect_max_s)))
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        c.on_disconnect = self._on_disconnect
        return c

    def _filters(self) -> list[tuple[str, SubscribeOptions]]:
        t, opt = self.topics, SubscribeOptions(qos=1)
        group = share_group(self.cfg)
        subs = [(t.shared(t.node_filter(k), group), opt) for k in ("birth", "tele", "ack")]
        return [*subs, (t.node_filter("state"), opt)]

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            log.error("broker %s:%d refused connection: %s", *self._addr, rc)
            return
        tcp_nodelay(client)
        self._gen += 1
        self.stats.set_connected(True)
        log.info("connected to %s:%d as instance %s", *self._addr, self.instance)
        _, self._sub_mid = client.subscribe(self._filters())

    def _on_subscribe(self, client: mqtt.Client, _u: Any, mid: int, rcs: Any, _p: Any) -> None:
        if mid != self._sub_mid:
            return
        bad = [str(rc) for rc in rcs if rc.is_failure]
        if bad:
            log.error("broker refused subscriptions: %s", ", ".join(bad))
            return
        client.publish(self.topics.central_state(self.instance), self._state_payload(True),
                       qos=1, retain=True)
        self.ready.set()

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        payload, received = bytes(msg.payload), wall_ms()
        node = node_of(self.topics, msg.topic)
        if msg.retain and not msg.topic.endswith("/state"):
            # a stored copy replayed on subscribing: nodes never retain birth/tele/ack, but
            # the broker ACL cannot forbid it (docs/security.md), so it is never trusted
            self.stats.reject("retained", node, "retained birth/tele/ack (not a live message)")
            self._acks.overflowed(self._gen, msg.mid, msg.qos)
            return
        if not self.limiter.allow(node, len(payload)):  # dropped unreceipted: re-sent later
            self.stats.limit(node)
            self._acks.overflowed(self._gen, msg.mid, msg.qos)
            return
        size = len(payload)
        with self._room:
            deadline = time.monotonic() + self._block_s
            while not (fits := self._fits(size)) and not self._stopping:
                left = deadline - time.monotonic()  # back-pressure: the broker holds the rest
                if left <= 0:
                    break
                self._room.wait(left)
            if fits:
                self._qbytes += size
                self._queue.put_nowait(_Item(self._acks.queued(), self._gen, msg.mid, msg.qos,
                                             msg.topic, payload, received))
        if not fits:  # not receipted (the agent re-sends); PUBACK after the earlier messages
            self.stats.reject("queue_full", node, "writer queue full (messages or bytes)")
            self._acks.overflowed(self._gen, msg.mid, msg.qos)

    def _fits(self, size: int) -> bool:
        """Room in the hand-off queue for one more message of size bytes (_qlock held)."""
        return (self._qbytes + size <= self._qmax_bytes or self._qbytes == 0) and \
            self._queue.qsize() < self.stats.queue_max

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        self.ready.clear()
        self.stats.set_connected(False)
        if not self._stopping:
            log.warning("disconnected from broker: %s (reconnecting)", rc)

    def add_listener(self, fn: Callable[[Incoming], None]) -> None:
        """Call fn(incoming) in the commit thread for every message after it was committed.

        For births, acks, states and tele (e.g. the command service re-sending desired state
        on birth). Keep it quick; an exception is logged and never stops delivery. Add
        listeners before start().
        """
        self._listeners.append(fn)

    def _notify(self, incoming: list[Incoming]) -> None:
        for inc in incoming:
            for fn in self._listeners:
                try:
                    fn(inc)
                except Exception as exc:  # one line per interval, counted: no traceback flood
                    self.stats.fault(f"listener_{inc.msg.KIND}", inc.node, exc)

    # ------------------------------------------------------------ writer: decode stage
    def _take(self) -> tuple[list[_Item], bool]:
        """The next batch off the hand-off queue (bounded in messages and bytes); True at stop."""
        linger = self.cfg.storage.batch_linger_ms / 1000
        bmax = self.cfg.storage.batch_max
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch: list[_Item] = [first]
        nbytes, done = len(first.payload), False
        deadline = time.monotonic() + linger
        while len(batch) < bmax and nbytes < BATCH_MAX_BYTES:
            try:
                nxt = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if nxt is _STOP:
                done = True
                break
            batch.append(nxt)
            nbytes += len(nxt.payload)
        with self._room:
            self._qbytes -= nbytes
            self._room.notify_all()
        return batch, done

    def _run_writer(self) -> None:
        done = False
        while not done:
            items, done = self._take()
            if not items:
                break
            out = _Batch(items, [], {}, [], [])
            try:
                self._decode(out)
            except Exception as exc:  # one bad batch must never stop the writer
                self.stats.fault("writer", "?", exc)
                for key in out.keys.values():
                    self.dedupe.end(key, None)
                out = _Batch(items, [], {}, [], [])  # acked, nothing receipted: re-sent
            self._decoded.put(out)
        self._decoded.put(_STOP)

    def _decode(self, out: _Batch) -> None:
        """Decode every message of out.items once; a tele batch that was committed is not
        decoded again (receipted again), nor one whose copy is on its way to the database
        (dedupe.py: the key is topic, session and seq as the payload's head states them)."""
        items = out.items
        seen: set[bytes] = set()
        for it in items:
            key, head = None, None
            if it.topic.endswith("/tele") and (head := tele_head(it.payload)) is not None:
                key = batch_key(it.topic, *head)
                hit = self.dedupe.committed(key)
                if hit is not None or key in seen or self.dedupe.inflight(key):
                    self.stats.message("tele")
                    if hit is not None:
                        out.repeats.append(hit)
                    else:
                        out.copies.append(key)
                    continue
            inc = accept_one(self.ingest, it.topic, it.payload, it.received_ms)
            if inc is None:
                continue
            out.incoming.append(inc)
            if key is not None and isinstance(inc.msg, Tele) and \
                    (inc.msg.session, inc.msg.seq) == head:  # the head told the truth
                seen.add(key)
                self.dedupe.begin(key)
                out.keys[id(inc)] = key

    # ------------------------------------------------------------ writer: commit stage
    def _run_committer(self) -> None:
        while True:
            batch = self._decoded.get()
            if batch is _STOP:
                break
            try:
                self._process(batch)
            except Exception as exc:  # one bad batch must never stop the writer
                self.stats.fault("writer", "?", exc)
                for key in batch.keys.values():
                    self.dedupe.end(key, None)
                self._ack(batch.items)  # no receipt was sent: the agents re-send

    def _store(self, incoming: list[Incoming]) -> list[Incoming] | None:
        """What was stored (a message that alone fails is isolated), None if the DB is down."""
        for attempt in range(1, WRITE_RETRIES + 1):
            try:
                return write_isolated(self.storage, incoming, self.stats)
            except StorageError as exc:
                log.error("write of %d messages failed (attempt %d/%d): %s",
                          len(incoming), attempt, WRITE_RETRIES, exc)
                time.sleep(0.2 * attempt)
        self.stats.write_error()
        return None

    def _process(self, batch: _Batch) -> None:
        incoming = batch.incoming
        stored = self._store(incoming) if incoming else []
        receipts = records = 0
        done: dict[bytes, Receipted] = {}
        if stored is not None:
            for inc in stored:
                if isinstance(inc.msg, Tele):
                    seqs = inc.msg.record_seqs()
                    records += len(seqs)
                    rx = Receipted(inc.site, inc.node, inc.msg.session,
                                   tuple(seq_ranges(seqs)))
                    if self._receipt(rx):
                        receipts += 1
                        key = batch.keys.get(id(inc))
                        if key is not None:
                            done[key] = rx
        for key in batch.keys.values():
            self.dedupe.end(key, done.get(key))
        if stored is not None:
            for key in batch.copies:  # the original is committed by now (or was refused)
                rx_again = done.get(key) or self.dedupe.committed(key)
                if rx_again is not None:
                    batch.repeats.append(rx_again)
            for rep in batch.repeats:
                receipts += self._receipt(rep)
            self.stats.batch(len(stored) + len(batch.repeats), records, receipts)
        self._ack(batch.items)
        if stored and self._listeners:
            self._notify(stored)

    def _ack(self, batch: list[_Item]) -> None:
        """PUBACK in arrival order; messages of an earlier connection are not acked (stale mid)."""
        for it in batch:
            self._acks.done(it.number, it.gen, it.mid, it.qos)

    def _receipt(self, rx: Receipted) -> bool:
        try:
            body = DeliveryReceipt.model_validate(
                {"site": rx.site, "node": rx.node, "ts_ms": wall_ms(), "session": rx.session,
                 "acked": rx.acked})
            self.client.publish(self.topics.node(rx.site, rx.node, "rx"), encode(body), qos=1)
        except Exception as exc:  # stored; no receipt: the agent re-sends, insert is idempotent
            self.stats.fault("receipt", rx.node, exc)
            return False
        return True

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Sync the registry, connect (retrying in the background) and start the writer."""
        self.storage.sync_registry(self.cfg.nodes)
        self._writer.start()
        self._committer.start()
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 0
        props.ReceiveMaximum = self.cfg.mqtt.receive_max
        self.client.connect_async(*self._addr, keepalive=self.cfg.mqtt.keepalive_s,
                                  clean_start=True, properties=props)
        self.client.loop_start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Clean shutdown: publish offline, stop receiving, drain and commit, disconnect."""
        self._stopping = True
        if self.client.is_connected():
            info = self.client.publish(self.topics.central_state(self.instance),
                                       self._state_payload(False), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=min(3.0, timeout_s))
            except (RuntimeError, ValueError) as exc:
                log.warning("could not publish offline state: %s", exc)
            self.client.unsubscribe([f for f, _ in self._filters()])
        with self._room:
            self._room.notify_all()  # a network thread waiting for room gives up
        if self._writer.is_alive():
            try:
                self._queue.put(_STOP, timeout=timeout_s)
            except queue.Full:
                log.error("writer queue still full at shutdown")
            self._writer.join(timeout=timeout_s)
        self._committer.join(timeout=timeout_s)
        self.client.disconnect()
        self.client.loop_stop()
        log.info("collector %s stopped", self.instance)

