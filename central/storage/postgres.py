"""PostgreSQL backend: several collectors on several machines writing one database."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pgerr
from psycopg.rows import dict_row, tuple_row

from central.clock import wall_ms
from central.config import RegistryNode
from central.storage import _postgres_sql as q
from central.storage import rollup
from central.storage._sql_backend import (
    SqlBackend,
    fold_stored,
    message_writes,
    sample_rows,
    touches,
)
from central.storage.base import Incoming, StorageError
from protocol.messages import Sample, Tele

log = logging.getLogger(__name__)

SCHEMA_VERSION = q.SCHEMA_VERSION  # the newest schema this central migrates to

T = TypeVar("T")
Conn = psycopg.Connection[dict[str, Any]]
# Lock conflicts between transactions: retried at once inside write() (the batch is idempotent).
_RETRY_TX = (pgerr.DeadlockDetected, pgerr.SerializationFailure)
_TX_ATTEMPTS = 3
# A database host that vanishes (not a clean close) is noticed in ~30 s, not hours of TCP.
_KEEPALIVE: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 10,
                               "keepalives_interval": 5, "keepalives_count": 3,
                               "tcp_user_timeout": 30_000}


def redact(url: str) -> str:
    """The URL with its password (user part or ?password=) replaced by '***' (safe to log)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - validates the port and the host brackets
    except ValueError:
        return f"{url.split(':', 1)[0]}://(unparsable URL)"
    if parts.password is not None:
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{parts.username or ''}:***@{host}")
    query = "&".join("password=***" if kv.lower().startswith("password=") else kv
                     for kv in parts.query.split("&")) if parts.query else ""
    return urlunsplit(parts._replace(query=query))


def _secrets(url: str) -> list[str]:
    """Every spelling of the password in a URL (libpq echoes a bad URL in its errors)."""
    found = re.findall(r"[?&]password=([^&]*)", url, flags=re.IGNORECASE)
    m = re.match(r"^[^:/?#]+://[^:/?#@]*:([^/?#]*)@", url)  # user:password@ up to the last @
    found += [m.group(1)] if m else []
    found += [unquote(f) for f in found]
    return sorted({f for f in found if f}, key=len, reverse=True)


def _t(value: str) -> str:
    """PostgreSQL text cannot hold NUL: replace it so one odd agent cannot wedge a batch."""
    return value.replace("\x00", "\ufffd")


class PostgresStorage(SqlBackend):
    """The backend for scale; thread-safe, one writer and one reader connection per instance."""

    _sql = q.SQL

    def __init__(self, url: str, connect_timeout_s: int = 10) -> None:
        self.url = url
        self.safe_url = redact(url)
        self._secrets = _secrets(url)
        self._timeout = connect_timeout_s
        # w: ingest writes, r: reads, m: maintenance (retention), so neither waits on another
        self._locks = {"w": threading.Lock(), "r": threading.Lock(), "m": threading.Lock()}
        self._conns: dict[str, Conn | None] = {"w": None, "r": None, "m": None}
        try:
            with self._locks["w"]:
                self._migrate(self._conn("w"))
        except StorageError:
            self.close()
            raise
        log.info("PostgreSQL storage %s ready (schema version %d)", self.safe_url,
                 q.SCHEMA_VERSION)

    # ------------------------------------------------------------ connections
    def _msg(self, exc: BaseException) -> str:
        """A driver error on one line, without the password."""
        text = " ".join(str(exc).split()).replace(self.url, self.safe_url)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _connect(self) -> Conn:
        try:
            return psycopg.connect(self.url, autocommit=True, row_factory=dict_row,
                                   connect_timeout=self._timeout,
                                   application_name="kotanet-central", **_KEEPALIVE)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL {self.safe_url}: "
                               f"{self._msg(exc)}") from None

    def _conn(self, which: str) -> Conn:
        c = self._conns[which]
        if c is None or c.closed or c.broken:
            c = self._conns[which] = self._connect()
        return c

    def _migrate(self, c: Conn) -> None:
        try:
            with c.transaction():
                c.execute("SELECT pg_advisory_xact_lock(%s)", (q.MIGRATION_LOCK,))
                c.execute(q.SCHEMA_VERSION_TABLE)
                row = c.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()
                have = int(row["v"] or 0) if row else 0
                if have > q.SCHEMA_VERSION:
                    raise StorageError(f"database {self.safe_url} has schema version {have}, "
                                       f"newer than this central's {q.SCHEMA_VERSION}")
                for version in sorted(v for v in q.MIGRATIONS if v > have):
                    log.info("migrating %s to schema version %d", self.safe_url, version)
                    c.execute(q.MIGRATIONS[version].encode())
                    if version == 2:
                        self._backfill(c)
                    c.execute("INSERT INTO schema_version VALUES (%s, %s)",
                              (version, wall_ms()))
        except psycopg.Error as exc:
            raise StorageError(f"cannot migrate {self.safe_url}: {self._msg(exc)}") from None

    def _backfill(self, c: Conn) -> None:
        """Build rollup_5m from the samples of the last BACKFILL_DAYS, node by node, in the
        database (inside the migration's transaction: collectors starting meanwhile wait on
        its lock; nothing is decoded in Python)."""
        t0 = time.monotonic()
        since = wall_ms() - rollup.BACKFILL_DAYS * 86400_000
        nodes = [r["node"] for r in c.execute("SELECT node FROM nodes ORDER BY node")]
        built = 0
        for node in nodes:
            for sql in (q.BACKFILL_NODE_ROWS, q.BACKFILL_UPLINK_ROWS):
                built += c.execute(sql, {"node": node, "since": since}).rowcount
        if built:
            row = c.execute("SELECT COALESCE(SUM(n), 0)::bigint AS n FROM rollup_5m "
                            "WHERE uplink = ''").fetchone()
            log.info("rollup backfill of %s: %d samples of the last %d days -> %d rollup rows "
                     "in %.1f s", self.safe_url, int(row["n"]) if row else 0,
                     rollup.BACKFILL_DAYS, built, time.monotonic() - t0)

    def _run(self, which: str, fn: Callable[[Conn], T]) -> T:
        """Run fn on a live connection; a connection lost on the way is reopened once."""
        with self._locks[which]:
            for attempt in range(1, _TX_ATTEMPTS + 1):
                c = self._conn(which)
                try:
                    return fn(c)
                except _RETRY_TX as exc:
                    if attempt == _TX_ATTEMPTS:
                        raise StorageError(f"PostgreSQL failed: {self._msg(exc)}") from exc
                    log.warning("transaction conflict (attempt %d), retrying: %s", attempt, exc)
                except psycopg.OperationalError as exc:
                    if not (c.closed or c.broken) or attempt > 1:
                        raise StorageError(f"PostgreSQL failed: {self._msg(exc)}") from exc
                    log.warning("connection to %s lost, reconnecting: %s", self.safe_url,
                                self._msg(exc))
                except psycopg.Error as exc:
                    raise StorageError(f"PostgreSQL failed: {self._msg(exc)}") from exc
            raise AssertionError("unreachable")

    def _tx(self, fn: Callable[[Conn], None]) -> None:
        def in_tx(c: Conn) -> None:  # pipelined: a batch costs about one round trip
            with c.pipeline(), c.transaction():
                fn(c)
        self._run("w", in_tx)

    def _delete(self, sql: str, params: dict[str, Any]) -> int:
        def in_tx(c: Conn) -> int:
            with c.transaction():
                return c.execute(sql, params).rowcount
        return self._run("m", in_tx)

    # ------------------------------------------------------------ writes
    def sync_registry(self, nodes: Sequence[RegistryNode]) -> None:
        """Insert or update the registry's nodes (site, role, name; clears 'unregistered')."""
        rows = sorted((n.node, n.site, n.role, _t(n.name)) for n in nodes)
        if rows:
            self._tx(lambda c: c.cursor().executemany(q.SQL.upsert_registry, rows))

    def write(self, batch: Sequence[Incoming]) -> None:
        """Store a batch in arrival order in ONE transaction, idempotent on (node, seq)."""
        if batch:  # rows built before the transaction: node rows are locked less long
            rows, owners = sample_rows(batch)
            cols = [list(col) for col in zip(*rows, strict=True)] if rows else []
            self._tx(lambda c: self._write(c, batch, cols, owners))

    def _write(self, c: Conn, batch: Sequence[Incoming], cols: list[list[Any]],
               owners: list[tuple[str, Sample]]) -> None:
        cur = c.cursor()
        # Node rows stay locked from touch_node to commit. A batch of tele only (a replay is
        # little else) touches them last: locked at the start they would hold another
        # collector's batch of the same nodes for the whole transaction ($share spreads every
        # node over all collectors). Births and states UPDATE node rows: such a batch locks
        # all of its nodes first, in one order (a deadlock with the other order is retried).
        late = all(isinstance(inc.msg, Tele) for inc in batch)
        if not late:
            cur.executemany(q.SQL.touch_node, touches(batch))
        acc = rollup.Rollup()
        if cols:  # one statement for every sample of the batch, column by column
            ins = c.cursor(row_factory=tuple_row)
            ins.execute(q.INSERT_SAMPLES_UNNEST, cols)
            fold_stored(owners, ins.fetchall(), acc)
        for inc in batch:
            for sql, params, many in message_writes(q.SQL, inc, _t):
                (cur.executemany if many else cur.execute)(sql, params)
        if acc.rows:  # additive upserts: READ COMMITTED merges onto the newest row version
            cur.executemany(q.UPSERT_ROLLUP, acc.params())
        if late:
            cur.executemany(q.SQL.touch_node, touches(batch))

    def add_token(self, name: str, role: str, token_sha256: str) -> None:
        """Store an API token (only its SHA-256) with a role."""
        row = (token_sha256, _t(name), role, wall_ms())
        self._tx(lambda c: c.cursor().executemany(q.UPSERT_TOKEN, [row]))

    # ------------------------------------------------------------ reads
    def _query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return self._run("r", lambda c: c.execute(sql, params).fetchall())

    def close(self) -> None:
        """Close every connection."""
        with self._locks["w"], self._locks["r"], self._locks["m"]:
            for which, c in self._conns.items():
                if c is not None:
                    c.close()
                self._conns[which] = None
