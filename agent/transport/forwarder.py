"""Publishes the outbox oldest first (RAM too, write-behind): window, receipts, backoff, pauses.

Single-threaded: only the agent loop calls it. A batch stays "in flight" until a receipt
covers it; without one it is re-sent (``historical=true``) after an exponentially growing,
jittered delay that starts from the receipt timer (``ReceiptTimer``: TCP's retransmission
timer over the receipt round trip, never below ``retry_min_s``): when a collector is slow, as
after a city-wide outage when every node replays at once, batches wait for their receipt
instead of being sent two or three times over the uplink (LTE backup bytes cost money). Sending pauses while no central instance is online or the broker answers
PUBACK 16 ("no matching subscribers"); sampling goes on meanwhile.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import ValidationError

from agent.clock import wall_ms
from agent.config import AgentConfig
from agent.transport.outbox import Outbox, OutboxRecord
from protocol.codec import PayloadTooLarge, encode
from protocol.messages import DeliveryReceipt, Tele

log = logging.getLogger(__name__)

NO_MATCHING_SUBSCRIBERS = 16
MAX_DROPS_PER_BATCH = 50


class ReceiptTimer:
    """How long a batch waits for its receipt before it is sent again (RFC 6298's
    retransmission timer, with central's receipt as the acknowledgement).

    Fed by the round trips of batches receipted on their first send (Karn's rule: a re-sent
    batch's receipt may answer either copy). ``rto`` = srtt + 4 * rttvar, within
    [min_s, max_s]; a timeout doubles it (at most once per ``rto``) until the next round trip
    is measured, so new batches of a slow collector do not time out all over again.
    """

    def __init__(self, min_s: float, max_s: float) -> None:
        self.min_s, self.max_s = min_s, max(min_s, max_s)
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = min_s
        self._backed_off_at = float("-inf")

    def observe(self, rtt_s: float) -> None:
        """A batch sent once was receipted rtt_s after it was sent."""
        rtt_s = max(0.0, rtt_s)
        if self.srtt is None:
            self.srtt, self.rttvar = rtt_s, rtt_s / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt_s)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt_s
        self.rto = min(self.max_s, max(self.min_s, self.srtt + 4 * self.rttvar))
        self._backed_off_at = float("-inf")

    def timed_out(self, now: float) -> None:
        """A batch's receipt did not come within its delay: back the timer off."""
        if now - self._backed_off_at >= self.rto:
            self.rto = min(self.max_s, self.rto * 2)
            self._backed_off_at = now


@dataclass
class Batch:
    """One unreceipted tele: its record seqs and the drop reports it carries."""

    lo: int
    hi: int
    seqs: set[int]
    drop_ids: list[int]
    mid: int = -1
    tries: int = 0
    due: float = 0.0
    sent: float = 0.0  # when it was first sent (its receipt's round trip, if never re-sent)
    base: float = 0.0  # the receipt timer when it was first sent: its first re-send delay


class Forwarder:
    """The outbox's sending side (window, retries, receipts, flow control)."""

    def __init__(self, cfg: AgentConfig, outbox: Outbox, publish: Callable[[Tele], int],
                 rng: Callable[[], float] = random.random) -> None:
        self.cfg = cfg
        self.ob = cfg.outbox
        self.outbox = outbox
        self._publish = publish
        self._rng = rng
        self.inflight: dict[int, Batch] = {}  # by lo seq, ascending
        self._by_mid: dict[int, int] = {}
        self.cursor = -1  # highest seq handed to a batch
        self.live_from = outbox.next_seq  # lower seqs are historical
        self.replay_upto = -1
        self.session = 0
        self.connected = False
        self.centrals: set[str] = set()
        self.paused_until = 0.0
        self._pause_s = 0.0
        self.sent_batches = 0
        self.resent_batches = 0
        self.timer = ReceiptTimer(self.ob.retry_min_s, self.ob.retry_max_s)

    # ------------------------------------------------------------ state changes
    def on_connected(self, session: int, now: float) -> None:
        """New session: older records are historical; paho re-sends its own queued copies."""
        self.session = session
        self.connected = True
        self.centrals.clear()  # rebuilt from the retained central states that follow
        self.live_from = self.outbox.next_seq
        for b in self.inflight.values():
            b.due = max(b.due, now + self.ob.retry_min_s)

    def on_disconnected(self) -> None:
        """Stop sending until reconnected."""
        self.connected = False

    def on_central_state(self, instance: str, online: bool, now: float) -> None:
        """Track which central instances are online; resume at once when one appears."""
        was = bool(self.centrals)
        (self.centrals.add if online else self.centrals.discard)(instance)
        if self.centrals and not was:
            log.info("central %s online: resuming delivery", instance)
            self.paused_until = 0.0
            for b in self.inflight.values():
                b.due = now
        elif was and not self.centrals:
            log.warning("no central instance online: delivery paused, sampling continues")

    def on_puback(self, mid: int, reason: int, now: float) -> None:
        """Broker verdict on a tele: 16 pauses (nobody subscribed), >= 0x80 retries later."""
        lo = self._by_mid.pop(mid, None)
        if lo is None:
            return  # not a tele (state, birth, ack) or an outdated copy
        batch = self.inflight.get(lo)
        if reason == NO_MATCHING_SUBSCRIBERS:
            self._pause_s = min(self.ob.retry_max_s, max(self.ob.retry_min_s, self._pause_s * 2))
            self.paused_until = now + self._pause_s
            log.warning("no collector subscribed: pausing delivery for %.1fs", self._pause_s)
            if batch is not None:
                batch.due = self.paused_until
        elif reason >= 0x80:
            log.warning("broker refused tele (reason %d): will retry", reason)
        else:
            self._pause_s = 0.0

    def on_receipt(self, rx: DeliveryReceipt, now: float | None = None) -> None:
        """Central committed these seqs: never send them again, delete them at next flush.
        ``now`` (the loop's clock) times the round trip of a batch receipted on its first
        send, for the receipt timer."""
        self.outbox.ack(rx.acked)
        for lo in list(self.inflight):
            b = self.inflight[lo]
            if not any(a <= b.hi and b.lo <= z for a, z in rx.acked):
                continue  # receipt is about other batches (seqs lie within lo..hi)
            covered = {s for s in b.seqs if any(a <= s <= z for a, z in rx.acked)}
            if not covered:
                continue
            b.seqs -= covered
            if b.drop_ids:
                self.outbox.forget_drops(b.drop_ids)
                b.drop_ids = []
            if not b.seqs:
                if b.tries == 0 and now is not None:
                    self.timer.observe(now - b.sent)
                self._forget(lo)

    def resync(self) -> None:
        """Central asked for everything again: re-send all unreceipted records from the oldest."""
        self.replay_upto = max(self.replay_upto, self.cursor)
        for lo in list(self.inflight):
            self._forget(lo)
        self.cursor = -1

    def _forget(self, lo: int) -> None:
        b = self.inflight.pop(lo)
        self._by_mid.pop(b.mid, None)
        self.outbox.release_drops(b.drop_ids)

    # ------------------------------------------------------------ sending
    @property
    def can_send(self) -> bool:
        """Connected and some central instance online."""
        return self.connected and bool(self.centrals)

    def next_due(self) -> float | None:
        """Monotonic time when pump() has timed work to do, or None."""
        if not self.can_send:
            return None
        dues = [b.due for b in self.inflight.values()]
        if len(self.inflight) < self.ob.window and self.outbox.sendable_upto > self.cursor:
            dues.append(self.paused_until)
        return max(min(dues), self.paused_until) if dues else None

    def _backoff(self, b: Batch) -> float:
        base = min(self.ob.retry_max_s, (b.base or self.timer.rto) * 2 ** min(b.tries, 30))
        return base * (0.75 + 0.5 * self._rng())

    def pump(self, now: float) -> None:
        """Re-send due batches, then fill the window with new ones (oldest first)."""
        if not self.can_send or now < self.paused_until:
            return
        for lo in list(self.inflight):
            b = self.inflight[lo]
            if b.due <= now:
                recs = self.outbox.read_range(b.lo, b.hi)
                recs = [r for r in recs if r.seq in b.seqs]
                if not recs:
                    self._forget(lo)
                    continue
                b.tries += 1
                self.timer.timed_out(now)
                self.resent_batches += 1
                self._send(b, recs, now, historical=True)
                if now < self.paused_until:
                    return
        limit = self.ob.batch_max_records
        while len(self.inflight) < self.ob.window and self.outbox.sendable_upto > self.cursor:
            recs = self.outbox.read_after(self.cursor, limit)
            if not recs:
                self.cursor = self.outbox.sendable_upto
                break
            drops = self.outbox.claim_drops(MAX_DROPS_PER_BATCH)
            b = Batch(recs[0].seq, recs[-1].seq, {r.seq for r in recs}, [d.id for d in drops])
            self.cursor = b.hi
            b.sent, b.base = now, self.timer.rto
            self.inflight[b.lo] = b
            hist = b.lo < self.live_from or b.lo <= self.replay_upto
            self._send(b, recs, now, historical=hist)

    def _tele(self, recs: list[OutboxRecord], drop_ids: list[int], historical: bool) -> Tele:
        drops = [(d.lo, d.hi, d.reason) for d in self.outbox.drops(MAX_DROPS_PER_BATCH)
                 if d.id in drop_ids]
        return Tele.model_validate({
            "site": self.cfg.node.site, "node": self.cfg.node.id, "ts_ms": wall_ms(),
            "session": self.session, "seq": recs[0].seq, "historical": historical,
            "samples": [{**r.body, "seq": r.seq} for r in recs if r.kind == "sample"],
            "events": [{**r.body, "seq": r.seq} for r in recs if r.kind == "event"],
            "dropped": drops,
        })

    def _valid(self, rec: OutboxRecord) -> bool:
        try:
            encode(self._tele([rec], [], False))
        except (ValidationError, PayloadTooLarge):
            return False
        return True

    def _send(self, b: Batch, recs: list[OutboxRecord], now: float, *, historical: bool) -> None:
        for _ in range(len(recs) + 1):  # each round shrinks recs or discards a bad record
            try:
                tele = self._tele(recs, b.drop_ids, historical)
                encode(tele)
                break
            except PayloadTooLarge:
                if len(recs) > 1:
                    recs = recs[: len(recs) // 2]
                    b.seqs, b.hi = {r.seq for r in recs}, recs[-1].seq
                    self.cursor = b.hi if b.tries == 0 else self.cursor
                    continue
                self._discard(b, recs)
                recs = []
            except ValidationError:
                self._discard(b, [r for r in recs if not self._valid(r)])
                recs = [r for r in recs if r.seq in b.seqs]
            if not recs:
                self._forget(b.lo)
                return
        else:
            raise RuntimeError(f"cannot build a tele for seqs {b.lo}-{b.hi}")
        self._by_mid.pop(b.mid, None)
        b.mid = self._publish(tele)
        self._by_mid[b.mid] = b.lo
        b.due = now + self._backoff(b)
        self.sent_batches += 1
        log.debug("sent tele seqs %d-%d (%d records, try %d, historical=%s)",
                  b.lo, b.hi, len(recs), b.tries, historical)

    def _discard(self, b: Batch, bad: list[OutboxRecord]) -> None:
        """Unsendable records (corrupt or too large) are dropped and reported, never retried."""
        for rec in bad:
            log.error("outbox record %d cannot be sent; dropping it as corrupt", rec.seq)
            self.outbox.discard(rec.seq, "corrupt")
            b.seqs.discard(rec.seq)
