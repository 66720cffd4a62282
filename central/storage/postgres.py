"""PostgreSQL backend: several collectors on several machines writing one database."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import psycopg
from psycopg import errors as pgerr
from psycopg.rows import dict_row

from central.config import RegistryNode
from central.storage import postgres_sql as q
from central.storage import rollup
from central.storage.base import Gap, Incoming, NodeFloors, StorageError, subtract_ranges
from protocol.messages import Birth, CommandAck, NodeState, Sample, Tele

log = logging.getLogger(__name__)

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


def _sample_row(site: str, node: str, tele: Tele, s: Sample, now: int) -> tuple[Any, ...]:
    active = next((u for u in s.uplinks if u.active), None)
    sh = s.shaping
    return (node, s.seq, s.ts_ms, site, tele.session, now, tele.historical,
            active.name if active else None, active.rtt_ms if active else None,
            active.loss_pct if active else None, s.users.total, s.users.authenticated,
            s.system.cpu_pct, s.system.mem_pct, s.system.temp_c,
            sh.version if sh else None, sh.down_kbps if sh else None, sh.up_kbps if sh else None,
            s.model_dump_json())


def _by_node(batch: Sequence[Incoming]) -> list[Incoming]:
    """Nodes in sorted order (one lock order for all collectors), each in arrival order."""
    return sorted(batch, key=lambda inc: inc.node)  # stable: arrival order within a node


class PostgresStorage:
    """The backend for scale; thread-safe, one writer and one reader connection per instance."""

    def __init__(self, url: str, connect_timeout_s: int = 10) -> None:
        self.url = url
        self.safe_url = redact(url)
        self._secrets = _secrets(url)
        self._timeout = connect_timeout_s
        self._locks = {"w": threading.Lock(), "r": threading.Lock()}
        self._conns: dict[str, Conn | None] = {"w": None, "r": None}
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
                              (version, int(time.time() * 1000)))
        except psycopg.Error as exc:
            raise StorageError(f"cannot migrate {self.safe_url}: {self._msg(exc)}") from None

    def _backfill(self, c: Conn) -> None:
        """Build rollup_5m from the samples of the last BACKFILL_DAYS, node by node, in the
        database (inside the migration's transaction: collectors starting meanwhile wait on
        its lock; nothing is decoded in Python)."""
        t0 = time.monotonic()
        since = int(time.time() * 1000) - rollup.BACKFILL_DAYS * 86400_000
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

    # ------------------------------------------------------------ writes
    def sync_registry(self, nodes: Sequence[RegistryNode]) -> None:
        """Insert or update the registry's nodes (site, role, name; clears 'unregistered')."""
        rows = sorted((n.node, n.site, n.role, _t(n.name)) for n in nodes)
        if rows:
            self._tx(lambda c: c.cursor().executemany(q.UPSERT_REGISTRY, rows))

    def write(self, batch: Sequence[Incoming]) -> None:
        """Store a batch in arrival order in ONE transaction, idempotent on (node, seq)."""
        if batch:
            self._tx(lambda c: self._write(c, _by_node(batch)))

    def _write(self, c: Conn, batch: Sequence[Incoming]) -> None:
        cur = c.cursor()
        rows: list[tuple[Any, ...]] = []  # every sample of the batch, inserted at the end
        stored: list[tuple[str, Sample]] = []
        for inc in batch:
            now, msg = inc.received_ms, inc.msg
            cur.execute(q.TOUCH_NODE, (inc.node, inc.site, inc.unregistered, now))
            if isinstance(msg, Tele):
                for s in msg.samples:
                    rows.append(_sample_row(inc.site, inc.node, msg, s, now))
                    stored.append((inc.node, s))
                if msg.events:
                    cur.executemany(q.INSERT_EVENT, [
                        (inc.node, e.seq, e.ts_ms, inc.site, now, _t(e.kind), e.severity,
                         _t(e.message), json.dumps(e.data)) for e in msg.events])
                if msg.dropped:
                    cur.executemany(q.INSERT_DROP, [(inc.node, lo, hi, reason, now)
                                                    for lo, hi, reason in msg.dropped])
            elif isinstance(msg, NodeState):
                cur.execute(q.APPLY_STATE, {"node": inc.node, "online": msg.online,
                                            "session": msg.session, "now": now})
            elif isinstance(msg, Birth):
                cur.execute(q.APPLY_BIRTH, {"node": inc.node, "session": msg.session, "now": now,
                                            "role": msg.role,
                                            "birth": msg.model_dump_json(by_alias=True)})
            elif isinstance(msg, CommandAck):
                cur.execute(q.INSERT_ACK, (inc.node, _t(msg.cmd_id), msg.stage, msg.ts_ms,
                                           _t(msg.code), _t(msg.detail), msg.applied_version,
                                           now))
        if rows:  # one statement per sample; a row comes back only for a sample really stored
            ins = c.cursor()  # its own cursor: only these results on it
            ins.executemany(q.INSERT_SAMPLE_RETURNING, rows, returning=True)
            acc = rollup.Rollup()
            for (node, s), res in zip(stored, ins.results(), strict=True):
                if res.fetchone() is not None:
                    acc.add_sample(node, s)
            if acc.rows:  # the node rows are locked (TOUCH_NODE) until commit: no lost merge
                cur.executemany(q.UPSERT_ROLLUP, acc.params())

    def add_token(self, name: str, role: str, token_sha256: str) -> None:
        """Store an API token (only its SHA-256) with a role."""
        row = (token_sha256, _t(name), role, int(time.time() * 1000))
        self._tx(lambda c: c.cursor().executemany(q.UPSERT_TOKEN, [row]))

    # ------------------------------------------------------------ reads
    def _query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        return self._run("r", lambda c: c.execute(sql, params).fetchall())

    def list_nodes(self) -> list[dict[str, Any]]:
        """Every node with presence and headline fields of its newest sample."""
        return self._query(q.NODES.format(where=""))

    def node_detail(self, node: str, now_ms: int, grace_ms: int) -> dict[str, Any] | None:
        """Birth info, last sample, presence, gap/drop summary of one node (None if unknown)."""
        rows = self._query(q.NODES.format(where="WHERE n.node = %s"), (node,))
        if not rows:
            return None
        birth = self._query("SELECT birth, birth_ms FROM nodes WHERE node = %s", (node,))[0]
        last = self._query(f"SELECT {q.SAMPLE_COLUMNS} FROM samples WHERE node = %s "
                           "ORDER BY seq DESC LIMIT 1", (node,))
        counts = self._query(q.COUNTS, {"n": node})[0]
        gaps = self.gaps(now_ms, grace_ms, node)
        drops = self.drops(node)
        return {
            **rows[0],
            "birth": birth["birth"],
            "birth_ms": birth["birth_ms"],
            "last_sample": last[0] if last else None,
            "records": counts,
            "gaps": {"count": len(gaps), "missing": sum(g.missing for g in gaps),
                     "ranges": [g.as_dict() for g in gaps[:100]]},
            "drops": {"count": len(drops),
                      "dropped": sum(d["to_seq"] - d["from_seq"] + 1 for d in drops),
                      "ranges": drops[:100]},
        }

    def _window(self, table: str, cols: str, node: str, since_ms: int | None,
                until_ms: int | None, limit: int) -> list[dict[str, Any]]:
        sql = (f"SELECT {cols} FROM {table} WHERE node = %s AND ts_ms >= %s AND ts_ms < %s "
               "ORDER BY ts_ms, seq LIMIT %s")
        lo = 0 if since_ms is None else since_ms
        hi = 2**63 - 1 if until_ms is None else until_ms
        return self._query(sql, (node, lo, hi, limit))

    def samples(self, node: str, since_ms: int | None, until_ms: int | None,
                limit: int) -> list[dict[str, Any]]:
        """Samples of a node with since_ms <= ts_ms < until_ms, oldest first, at most limit."""
        return self._window("samples", q.SAMPLE_COLUMNS, node, since_ms, until_ms, limit)

    def events(self, node: str, since_ms: int | None, until_ms: int | None,
               limit: int) -> list[dict[str, Any]]:
        """Events of a node in a time window, oldest first, at most limit."""
        return self._window("events", q.EVENT_COLUMNS, node, since_ms, until_ms, limit)

    def drops(self, node: str) -> list[dict[str, Any]]:
        """Ranges the agent reported as dropped on its side."""
        return self._query("SELECT from_seq, to_seq, reason, received_ms FROM drops "
                           "WHERE node = %s ORDER BY from_seq", (node,))

    def rollup(self, node: str, since_ms: int, until_ms: int,
               bucket_ms: int) -> list[dict[str, Any]]:
        """5-minute rollup rows of a node with since <= bucket start < until, merged per
        (uplink, k = (bucket start - since) // bucket_ms); ordered by k, uplink."""
        return self._query(q.ROLLUP_SERIES, {"node": node, "since": since_ms,
                                             "until": until_ms, "bucket": bucket_ms})

    def site_rx(self, since_ms: int, until_ms: int) -> list[dict[str, Any]]:
        """(site, bucket_ms, rx_bps): per site and 5-minute bucket the sum over its nodes of
        each node's mean per-sample total rx_bps; buckets with since <= start < until."""
        return self._query(q.SITE_RX, {"since": since_ms, "until": until_ms})

    def gaps(self, now_ms: int, grace_ms: int, node: str | None = None) -> list[Gap]:
        """Gaps older than the grace period, minus agent-reported drops."""
        where = "WHERE node = %(node)s" if node is not None else ""
        raw = self._query(q.GAPS.format(where=where), {"node": node, "cutoff": now_ms - grace_ms})
        if not raw:
            return []
        drop_rows = self._query("SELECT node, from_seq, to_seq FROM drops " + where,
                                {"node": node})
        holes: dict[str, list[tuple[int, int]]] = {}
        for d in drop_rows:
            holes.setdefault(d["node"], []).append((d["from_seq"], d["to_seq"]))
        out: list[Gap] = []
        for g in raw:
            for lo, hi in subtract_ranges(g["from_seq"], g["to_seq"], holes.get(g["node"], [])):
                out.append(Gap(g["node"], lo, hi, g["received_ms"]))
        return out

    def node_floors(self, node: str) -> NodeFloors:
        """Highest stored seq and seen session of a node, each + 1 (0 if none): enrolment."""
        row = self._query(q.NODE_FLOORS, {"n": node})[0]
        return NodeFloors.above([row["sample_seq"], row["event_seq"], row["drop_seq"]],
                                [row["node_session"], row["sample_session"]])

    def totals(self) -> dict[str, int]:
        """Row counts (nodes, nodes_online, samples, events, drops) for stats and metrics."""
        return {k: int(v or 0) for k, v in self._query(q.TOTALS)[0].items()}

    def token_role(self, token_sha256: str) -> tuple[str, str] | None:
        """(name, role) of a stored token, or None."""
        rows = self._query("SELECT name, role FROM api_tokens WHERE token_sha256 = %s",
                           (token_sha256,))
        return (rows[0]["name"], rows[0]["role"]) if rows else None

    def close(self) -> None:
        """Close every connection."""
        with self._locks["w"], self._locks["r"]:
            for which, c in self._conns.items():
                if c is not None:
                    c.close()
                self._conns[which] = None
