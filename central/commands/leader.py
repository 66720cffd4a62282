"""Leader lease in the database: one central instance at a time issues policy commands.

The lease row holds (holder, epoch, expires_ms). A holder renews before expiry; anyone may take
an expired lease, which bumps the epoch. Commands carry the epoch so agents can fence off an
old leader that still believes it leads (agents reject epochs lower than the highest seen).

A node's birth may raise the epoch of the lease row in place (``CommandStore.raise_epoch``, when
the node has seen an epoch this database never granted: it was lost or restored). The holder's
next renewal with its old epoch then fails, and taking the lease again (still its holder,
unexpired) hands it the raised epoch: the leader issues with it from its next tick on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from central.clock import wall_ms
from central.commands.store import LEASE_NAME, CommandStore, CommandStoreError

log = logging.getLogger(__name__)

__all__ = ["LEASE_NAME", "LeaderLease"]


class LeaderLease:
    """This instance's view of the lease; call tick() more often than ttl_s."""

    def __init__(self, store: CommandStore, instance: str, ttl_s: float = 30.0,
                 clock_ms: Callable[[], int] = wall_ms, name: str = LEASE_NAME) -> None:
        if ttl_s <= 0:
            raise ValueError(f"lease ttl_s must be > 0, got {ttl_s}")
        self.store = store
        self.instance = instance
        self.ttl_ms = int(ttl_s * 1000)
        self.name = name
        self._clock_ms = clock_ms
        self.epoch: int | None = None  # our epoch while we hold the lease
        self._valid_until_ms = 0

    @property
    def is_leader(self) -> bool:
        """True while we hold an unexpired lease (by our own clock)."""
        return self.epoch is not None and self._clock_ms() < self._valid_until_ms

    def tick(self) -> bool:
        """Renew the lease if we hold it, else try to take it; returns is_leader."""
        now = self._clock_ms()
        try:
            if self.epoch is not None and self.store.lease_renew(
                    self.name, self.instance, self.epoch, now, self.ttl_ms):
                self._valid_until_ms = now + self.ttl_ms
                return True
            old, self.epoch = self.epoch, None
            epoch = self.store.lease_acquire(self.name, self.instance, now, self.ttl_ms)
        except CommandStoreError as exc:
            log.error("leader lease check failed: %s", exc)
            return self.is_leader
        if old is not None and epoch is None:
            log.warning("instance %s lost the leader lease (epoch %d)", self.instance, old)
        elif old is not None and epoch is not None:
            log.warning("instance %s leads with epoch %d now, not %d (the epoch was raised or "
                        "the lease lapsed and was taken again)", self.instance, epoch, old)
        elif epoch is not None:
            log.info("instance %s is leader with epoch %d", self.instance, epoch)
        if epoch is not None:
            self.epoch, self._valid_until_ms = epoch, now + self.ttl_ms
        return epoch is not None

    def release(self) -> None:
        """Give the lease up (clean shutdown)."""
        if self.epoch is None:
            return
        try:
            self.store.lease_release(self.name, self.instance, self.epoch)
        except CommandStoreError as exc:
            log.error("releasing the leader lease failed: %s", exc)
        log.info("instance %s released the leader lease (epoch %d)", self.instance, self.epoch)
        self.epoch = None
