"""NOC login under attack: reserve before checking, hash on its own executor, aggregate audit.

Rule (docs/operations.md, "Login limits"), with N = ``login_max_failures`` per window:

* an (address, account) pair gets N attempts that fail per window; then that address may not
  try that account until the window has passed (its correct password included);
* one address gets 4N failed attempts per window over all accounts (a spray), one account
  4N over all addresses (a distributed guess); an attack on ONE account from a shared NAT
  stops at N, so the other people behind that NAT keep logging in to their own accounts.

An attempt is reserved (counted as a failure) before the password is checked and released
only by a success, so concurrent requests can never check more than the limit allows. Checks
run on a small executor of their own (``workers`` threads at a lower CPU priority, at most
``max_inflight`` queued): the API's thread pool never waits for argon2. A nice value cannot
share memory bandwidth, and one argon2id check reads and writes 64 MiB three times, so the
checks are also metered: at most ``checks_per_s`` start per second (a token bucket holding
``checks_burst``); a check beyond that waits in the hasher's queue (never more than
``max_inflight``; beyond that an attempt is refused as ``busy`` before any hashing). At the
defaults the hasher works at most about a third of the time however many attempts arrive,
and a legitimate login is only ever delayed by the meter, never refused by it. The login's database
work (the account's hash, the audit rows) has its own one-thread executor too (``db``): a
burst queues there, never in front of the API's reads in asyncio's default pool.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

MAX_KEYS = 10_000  # bounded memory under a spray of names and addresses
#: Password checks started per second at most, and how many may start at once after a calm
#: spell (an office logging in together); NocSettings.login_checks_per_s / _burst. One check
#: costs ~0.15 s of a core on a quiet 2-core central: 2/s keeps the hasher busy a third of
#: the time at most.
CHECKS_PER_S = 2.0
CHECKS_BURST = 6
AUDITED_REFUSALS = 3  # refusals per lock key and window written one row each; then summarised


PASSWORD_NICE = 10  # the password thread yields the CPU to the API's event loop


def _low_priority() -> None:
    """Lower this (executor) thread's CPU priority on Linux; elsewhere a no-op."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), PASSWORD_NICE)
    except (AttributeError, OSError):
        pass


@dataclass
class Reservation:
    """One attempt allowed to check a password; resolve() it exactly once."""

    keys: tuple[str, ...]
    at: float


class LoginGuard:
    """Thread-safe sliding-window limiter with reservations, and the password executor."""

    def __init__(self, max_failures: int, window_s: float, workers: int = 1,
                 max_inflight: int = 16, clock: Callable[[], float] = time.monotonic,
                 checks_per_s: float = CHECKS_PER_S, checks_burst: int = CHECKS_BURST,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.max, self.window = max_failures, window_s
        self.max_inflight = max_inflight
        self.rate, self.burst = checks_per_s, float(max(1, checks_burst))
        self._tokens, self._tokens_at = self.burst, clock()
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._fails: dict[str, list[float]] = {}
        self._inflight = 0
        self._refused: dict[str, list[float]] = {}  # key -> [window start, count, summarised]
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="noc-pw",
                                           initializer=_low_priority)
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="noc-login-db")
        self.verifications = 0  # password checks actually run (argon2)
        self.refusals = 0  # attempts refused without a check

    def _keys(self, ip: str, user: str) -> tuple[tuple[str, int], ...]:
        u = user.lower()
        return ((f"pair|{ip}|{u}", self.max), (f"ip|{ip}", 4 * self.max),
                (f"user|{u}", 4 * self.max))

    def _recent(self, key: str, now: float) -> list[float]:
        kept = [t for t in self._fails.get(key, []) if now - t < self.window]
        if kept:
            self._fails[key] = kept
        else:
            self._fails.pop(key, None)
        return kept

    def reserve(self, ip: str, user: str) -> Reservation | tuple[int, str]:
        """A reservation, or (seconds to wait, the lock key that refused) when over a limit."""
        now = self._clock()
        with self._lock:
            for key, cap in self._keys(ip, user):
                recent = self._recent(key, now)
                if len(recent) >= cap:
                    self.refusals += 1
                    return int(self.window - (now - recent[-cap])) + 1, key
            if self._inflight >= self.max_inflight:
                self.refusals += 1
                return 1, "busy"
            if len(self._fails) > MAX_KEYS:
                self._fails.clear()
            keys = tuple(k for k, _ in self._keys(ip, user))
            for key in keys:
                self._fails.setdefault(key, []).append(now)
            self._inflight += 1
            return Reservation(keys, now)

    def resolve(self, res: Reservation, ok: bool) -> None:
        """Keep the reservation as a failure, or on success forget the pair's failures."""
        with self._lock:
            self._inflight -= 1
            if ok:
                self._fails.pop(res.keys[0], None)
                for key in res.keys[1:]:
                    times = self._fails.get(key, [])
                    if res.at in times:
                        times.remove(res.at)

    def _metered(self) -> None:
        """Take one check from the meter, first waiting (in the hasher thread) for it to refill."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._tokens_at) * self.rate)
            self._tokens_at = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)

    def verify(self, fn: Callable[[], bool]) -> Callable[[], bool]:
        """fn wrapped to wait for the meter and count one password check (run it on
        ``executor``)."""
        def run() -> bool:
            self._metered()
            with self._lock:
                self.verifications += 1
            return fn()
        return run

    def audit_refusal(self, key: str) -> dict[str, Any] | None:
        """The audit detail to write for one refusal, or None (counted into a later summary).

        The first AUDITED_REFUSALS refusals of a lock key per window get a row each; after
        that, one summary row per window carries how many were refused meanwhile.
        """
        now = self._clock()
        with self._lock:
            if len(self._refused) > MAX_KEYS:
                self._refused.clear()
            start, count, done = self._refused.setdefault(key, [now, 0, 0])
            if now - start >= self.window:
                pending = int(count - done)
                self._refused[key] = [now, 1, 1 + pending]
                return {"refused": "rate limit", "lock": key.split("|")[0],
                        "refused_since_last_row": pending + 1}
            self._refused[key][1] = count + 1
            if count + 1 <= AUDITED_REFUSALS:
                self._refused[key][2] = count + 1
                return {"refused": "rate limit", "lock": key.split("|")[0]}
            return None

    def counters(self) -> dict[str, int]:
        """verifications, refusals and checks in flight."""
        with self._lock:
            return {"verifications": self.verifications, "refusals": self.refusals,
                    "inflight": self._inflight}

    def close(self) -> None:
        """Stop the password and database executors (waits for running work)."""
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.db.shutdown(wait=True)
