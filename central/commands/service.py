"""Command service: per-node versions, epochs, MQTT 5 message expiry, acks, re-send, renewal."""

from __future__ import annotations

import logging
import math
import secrets
import threading
from collections.abc import Callable
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central.clock import wall_ms
from central.collector.mqtt_conn import configure_client, tcp_nodelay
from central.commands.evidence import proven_epoch
from central.commands.params import DEFAULT_TTL_S, validate
from central.commands.resend_gate import ResendGate
from central.commands.signer import CommandSigner
from central.commands.store import CommandStore
from central.config import CentralConfig
from protocol.codec import encode
from protocol.commands import KEY_COMMAND_KIND
from protocol.messages import Birth, Command, CommandAck
from protocol.topics import Topics

log = logging.getLogger(__name__)

RENEW_FRACTION = 0.5  # renew a leased throttle once half its lease has passed
# A birth's epoch or version above this is ignored (logged): a faulty node must not push
# central's counters to where +1 overflows a 64-bit column.
MAX_BIRTH_FLOOR = 2**62
BIRTH_RESEND_INTERVAL_S = 5.0  # a birth re-sends the desired state at most this often per node


class Publisher(Protocol):
    """Sends one command payload (QoS 1) with an MQTT 5 message expiry."""

    def publish(self, topic: str, payload: bytes, expiry_s: int) -> None:
        """Queue the message; never retried by the caller (paho queues while disconnected)."""


class MqttPublisher:
    """Central's downlink client: its own paho MQTT 5 connection for cmd topics."""

    def __init__(self, cfg: CentralConfig, client_id: str | None = None) -> None:
        cid = client_id or f"central-{cfg.instance_id()}-cmd"[:64]
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid,
                                  protocol=mqtt.MQTTv5)
        self._addr = configure_client(self.client, cfg)
        self._keepalive = cfg.mqtt.keepalive_s
        self.client.reconnect_delay_set(int(max(1, cfg.mqtt.reconnect_min_s)),
                                        int(max(1, cfg.mqtt.reconnect_max_s)))
        self.connected = threading.Event()
        def on_connect(client: mqtt.Client, *_a: Any) -> None:
            tcp_nodelay(client)
            self.connected.set()
        self.client.on_connect = on_connect
        self.client.on_disconnect = lambda *a: self.connected.clear()

    def start(self) -> None:
        """Connect in the background (paho retries) and run the network thread."""
        self.client.connect_async(*self._addr, keepalive=self._keepalive, clean_start=True)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, expiry_s: int) -> None:
        """Publish QoS 1 with MessageExpiryInterval = expiry_s."""
        props = Properties(PacketTypes.PUBLISH)
        props.MessageExpiryInterval = max(1, expiry_s)
        info = self.client.publish(topic, payload, qos=1, properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("command on %s queued by paho (rc %s): sent on reconnect", topic, info.rc)

    def stop(self) -> None:
        """Disconnect and stop the network thread."""
        self.client.disconnect()
        self.client.loop_stop()


class CommandService:
    """Builds, records and publishes commands; the collector feeds it births and acks."""

    def __init__(self, store: CommandStore, publisher: Publisher, topics: Topics,
                 instance: str, clock_ms: Callable[[], int] = wall_ms,
                 signer: CommandSigner | None = None,
                 resend_interval_s: float = BIRTH_RESEND_INTERVAL_S) -> None:
        self.signer = signer
        if signer is None:
            log.warning("no command signing key configured ([commands] signing_key_file or "
                        "KOTANET_COMMAND_KEY): commands go out unsigned and nodes that "
                        "require signatures reject them")
        self.store = store
        self.resend_gate: ResendGate[Birth] = ResendGate(resend_interval_s, self._resend)
        self.publisher = publisher
        self.topics = topics
        self.instance = instance
        self._clock_ms = clock_ms

    def issue(self, node: str, site: str, kind: str, params: dict[str, Any] | None = None,
              ttl_s: float | None = None, *, origin: str = "operator", issued_by: str = "",
              epoch: int | None = None, floor: int = 0) -> Command:
        """Validate, record (new version; epoch None = current), sign and publish one command."""
        cmd = self._issue(node, site, kind, params, ttl_s, origin=origin, issued_by=issued_by,
                          epoch=epoch, floor=floor)
        assert cmd is not None  # only a copy of the desired state (copy_of) is ever skipped
        return cmd

    def _issue(self, node: str, site: str, kind: str, params: dict[str, Any] | None = None,
               ttl_s: float | None = None, *, origin: str = "operator", issued_by: str = "",
               epoch: int | None = None, floor: int = 0,
               copy_of: str | None = None) -> Command | None:
        """issue(); with ``copy_of`` (the cmd_id of the desired state whose params these are:
        a renewal, a birth re-send) only if that is still the node's desired state, checked in
        the transaction that allocates the version (CommandStore.copy_desired), else None."""
        if kind == KEY_COMMAND_KIND:  # central's own kind, never from an operator
            params, ttl = dict(params or {}), float(ttl_s or DEFAULT_TTL_S)
        else:
            kind, params, ttl = validate(kind, params, ttl_s)
        now = self._clock_ms()
        lease = params.get("lease_s") if kind == "set_throttle" else None
        new = {"cmd_id": f"c-{now:x}-{secrets.token_hex(4)}", "node": node, "site": site,
               "kind": kind, "epoch": epoch, "params": params, "issued_at_ms": now,
               "expires_at_ms": now + int(ttl * 1000), "origin": origin,
               "issued_by": issued_by or self.instance}
        lease_s = float(lease) if lease is not None else None
        if copy_of is None:
            rec = self.store.new_command(new, floor=floor, lease_s=lease_s)
        else:
            copied = self.store.copy_desired(new, copy_of, floor=floor, lease_s=lease_s)
            if copied is None:
                log.info("%s of %s's desired state %s skipped: a newer command replaced it",
                         origin, node, copy_of)
                return None
            rec = copied
        cmd = Command.model_validate({
            "site": site, "node": node, "ts_ms": now, "cmd_id": rec["cmd_id"], "kind": kind,
            "version": rec["version"], "epoch": rec["epoch"], "issued_at_ms": now,
            "expires_at_ms": rec["expires_at_ms"], "params": params})
        if self.signer is not None:
            cmd = self.signer.sign(cmd)
        self.publisher.publish(self.topics.node(site, node, "cmd"), encode(cmd),
                               math.ceil(ttl))
        log.info("command %s %s v%d epoch %d to %s (%s)", cmd.cmd_id, kind, cmd.version,
                 cmd.epoch, node, origin)
        return cmd

    def status(self, cmd_id: str) -> dict[str, Any] | None:
        """A command with its ack stages, or None if unknown."""
        return self.store.command(cmd_id)

    def on_ack(self, ack: CommandAck, received_ms: int | None = None) -> bool:
        """Record one ack stage (call after the collector accepted it); never raises."""
        try:
            return self.store.record_ack(ack.node, ack.model_dump(), received_ms or
                                         self._clock_ms())
        except Exception:
            log.exception("recording ack %s/%s failed", ack.cmd_id, ack.stage)
            return False

    def on_birth(self, birth: Birth) -> Command | None:
        """Catch up with the node's gate (raise_floors), then re-send the desired throttle if
        the node's throttle_version differs or a floor was raised; never raises."""
        raised = (False, False)
        try:
            raised = self.raise_floors(birth)
        except Exception:
            log.exception("raising the version/epoch floors of %s failed", birth.node)
        self._announce_keys(birth)
        return self._resend(birth, any(raised))

    def _resend(self, birth: Birth, raised: bool = True) -> Command | None:
        """Re-send the desired throttle if the birth shows the node lacks it (once per
        interval per node; a birth inside the interval is handled when it ends)."""
        try:
            desired = self.store.desired(birth.node)
            if desired is None:
                return None
            # equal versions mean "already applied" only if both come from one history: after
            # a raise, central's database was lost or restored, so its v1 is not the node's v1
            if desired["version"] == birth.throttle_version and not raised:
                return None
            if not self.resend_gate.admit(birth.node, birth):
                log.debug("birth of %s inside its re-send interval: deferred", birth.node)
                return None
            log.info("node %s has throttle v%d, desired v%d: re-sending", birth.node,
                     birth.throttle_version, desired["version"])
            return self._issue(birth.node, birth.site, desired["kind"], desired["params"],
                               DEFAULT_TTL_S, origin="birth", floor=birth.throttle_version,
                               copy_of=desired["cmd_id"])
        except Exception:
            log.exception("re-send on birth of %s failed", birth.node)
            return None

    def _announce_keys(self, birth: Birth) -> Command | None:
        """Send the signed key announcement to a verifying node that lacks the next key or
        still trusts a retired one (key rotation, docs/operations.md); never raises."""
        signer, have = self.signer, set(birth.cmd_key_ids)
        if signer is None or not have:
            return None
        if not (signer.next_id and signer.next_id not in have) and not have & set(signer.retire):
            return None
        try:
            ann = signer.announcement(self._clock_ms())
            if ann is None:
                return None
            log.info("node %s trusts keys %s: announcing %s (retiring %s)", birth.node,
                     ", ".join(sorted(have)), ann["key_id"], ", ".join(ann["retire"]) or "none")
            return self.issue(birth.node, birth.site, KEY_COMMAND_KIND, {"announcement": ann},
                              DEFAULT_TTL_S, origin="birth", floor=birth.applied_version)
        except Exception:
            log.exception("announcing the command key to %s failed", birth.node)
            return None

    def stop(self) -> None:
        """Cancel deferred re-sends (call before closing the store)."""
        self.resend_gate.stop()

    def raise_floors(self, birth: Birth) -> tuple[bool, bool]:
        """Make central's next command to this node pass its gate; (version, epoch) raised?

        A node never sees a version or epoch central did not hand out, so a birth reporting
        more than central has means central's command database was lost or restored from an
        older backup. The node's counter is raised to the highest version the node reports
        (``applied_version``, ``throttle_version``: the next version is above it, whatever the
        kind). The leader lease's epoch is raised only from evidence (central.commands.evidence:
        the signed command that set the node's epoch, verified with central's key) to that
        epoch + 1 when it is above every epoch granted (strictly above: an old leader that
        still holds that epoch in memory stays fenced); a bare ``cmd_epoch`` claim never moves
        the epoch other nodes see, only this node's own (``_raise_epoch``). Reads first;
        writes only when something must be raised.
        """
        node, raised = birth.node, [False, False]
        floor = max(birth.applied_version, birth.throttle_version)
        if floor > MAX_BIRTH_FLOOR or birth.cmd_epoch > MAX_BIRTH_FLOOR:
            log.error("node %s reports version %d / epoch %d, beyond %d: ignored", node, floor,
                      birth.cmd_epoch, MAX_BIRTH_FLOOR)
            return False, False
        if floor > self.store.version(node):
            before, after = self.store.raise_version(node, floor)
            if after > before:
                raised[0] = True
                log.warning("node %s has applied version %d, central's counter is at %d: "
                            "central's database was restored or lost? raising the counter to "
                            "%d", node, floor, before, after)
        current = self.store.current_epoch()
        proven = proven_epoch(birth, self.signer) if birth.cmd_epoch > current else None
        if proven is not None and proven > current:
            before, after = self.store.raise_epoch(proven, self._clock_ms())
            if after > before:
                log.warning("node %s has seen epoch %d, ours is %d (proved by a command central "
                            "signed): central's database was restored or lost? raising the "
                            "epoch to %d", node, proven, before, after)
                return raised[0], True
        raised[1] = self._raise_epoch(node, birth.cmd_epoch)
        return raised[0], raised[1]

    def _raise_epoch(self, node: str, seen: int) -> bool:
        """A birth's cmd_epoch above the node's next epoch: raise only what it can justify.

        A node's birth alone never moves the epoch other nodes see. With evidence (central's
        own records hold a command to this node at that epoch: the lease row was lost, the
        commands kept) the leader lease is raised; without it (the command database was lost
        or restored, or the node lies) only this node's own epoch offset is raised.
        """
        if seen <= self.store.node_epoch(node):
            return False
        if self.store.issued_epoch(node, seen):
            before, after = self.store.raise_epoch(seen - (self.store.node_epoch(node)
                                                           - self.store.current_epoch()),
                                                   self._clock_ms())
            log.warning("node %s has seen epoch %d that central issued but its lease is at %d:"
                        " raising the lease epoch to %d", node, seen, before, after)
            return after > before
        before, after = self.store.raise_node_epoch(node, seen)
        if after > before:
            log.warning("node %s has seen epoch %d, central's next for it is %d: central's "
                        "database was restored or lost? raising this node's epoch to %d "
                        "(no other node's)", node, seen, before, after)
        return after > before

    def renew_leases(self, epoch: int | None = None) -> list[Command]:
        """Re-issue leased throttles past RENEW_FRACTION of their lease (leader only).

        Each renewal is a copy of the desired state read here: it is stored only if that is
        still the node's desired state when its version is allocated (``copy_of``), so a
        command committed in between (operator, policy) is never overwritten by the older
        params at a higher version.
        """
        now, out = self._clock_ms(), []
        for d in self.store.leased():
            if now - d["sent_ms"] < d["lease_s"] * 1000 * RENEW_FRACTION:
                continue
            try:
                cmd = self._issue(d["node"], d["site"], "set_throttle", d["params"],
                                  max(1.0, min(DEFAULT_TTL_S, d["lease_s"])), origin="renew",
                                  epoch=epoch, copy_of=d["cmd_id"])
            except Exception:
                log.exception("renewing the throttle of %s failed", d["node"])
                continue
            if cmd is not None:
                out.append(cmd)
        return out
