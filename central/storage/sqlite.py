"""SQLite backend: WAL, one transaction per batch, a writer and a read-only connection."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from central.config import RegistryNode
from central.storage import rollup
from central.storage import sqlite_sql as q
from central.storage.base import Gap, Incoming, NodeFloors, StorageError, subtract_ranges
from protocol.messages import Birth, CommandAck, NodeState, Sample, Tele

log = logging.getLogger(__name__)


def _sample_row(site: str, node: str, tele: Tele, s: Sample, now: int) -> tuple[Any, ...]:
    active = next((u for u in s.uplinks if u.active), None)
    sh = s.shaping
    return (node, s.seq, s.ts_ms, site, tele.session, now, int(tele.historical),
            active.name if active else None, active.rtt_ms if active else None,
            active.loss_pct if active else None, s.users.total, s.users.authenticated,
            s.system.cpu_pct, s.system.mem_pct, s.system.temp_c,
            sh.version if sh else None, sh.down_kbps if sh else None, sh.up_kbps if sh else None,
            s.model_dump_json())


def _row(cur: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    out = {d[0]: v for d, v in zip(cur.description, row, strict=True)}
    if isinstance(out.get("data"), str):
        out["data"] = json.loads(out["data"])
    return out


class SqliteStorage:
    """The embedded default backend; safe to share between the writer thread and the API."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 10.0) -> None:
        self.path = str(path)
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._w = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None,
                                      check_same_thread=False)
            self._w.execute("PRAGMA journal_mode=WAL")
            self._w.execute("PRAGMA synchronous=NORMAL")
            self._w.executescript(q.SCHEMA)
            self._r = sqlite3.connect(Path(self.path).resolve().as_uri() + "?mode=ro", uri=True,
                                      timeout=busy_timeout_s, check_same_thread=False)
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"cannot open SQLite database {self.path}: {exc}") from None
        self._wlock = threading.Lock()
        self._rlock = threading.Lock()
        self._migrate()

    def _migrate(self) -> None:
        """Bring an older database to SCHEMA_VERSION (one transaction; another process opening
        the same file at once waits on BEGIN IMMEDIATE and then finds it done)."""
        def run(c: sqlite3.Connection) -> None:
            have = int(c.execute("PRAGMA user_version").fetchone()[0])
            if have > q.SCHEMA_VERSION:
                raise StorageError(f"database {self.path} has schema version {have}, newer "
                                   f"than this central's {q.SCHEMA_VERSION}")
            if have < 2:
                self._backfill(c)
            if have < q.SCHEMA_VERSION:
                c.execute(f"PRAGMA user_version={q.SCHEMA_VERSION}")
        self._tx(run)

    def _backfill(self, c: sqlite3.Connection) -> None:
        """Rebuild rollup_5m from the samples of the last BACKFILL_DAYS, a page at a time."""
        c.execute("DELETE FROM rollup_5m")
        since = int(time.time() * 1000) - rollup.BACKFILL_DAYS * 86400_000
        nodes = [r[0] for r in c.execute("SELECT node FROM nodes ORDER BY node")]
        read = built = 0
        for node in nodes:
            ts, seq = since - 1, 2**63 - 1
            while True:
                page = c.execute(q.BACKFILL_PAGE, {"node": node, "ts": ts, "seq": seq,
                                                   "limit": rollup.BACKFILL_PAGE}).fetchall()
                if not page:
                    break
                acc = rollup.Rollup()
                for _, ts_ms, data in page:
                    acc.add_stored(node, ts_ms, data)
                c.executemany(q.UPSERT_ROLLUP, acc.params())
                read += len(page)
                seq, ts = page[-1][0], page[-1][1]
                if len(page) < rollup.BACKFILL_PAGE:
                    break
        if read:
            built = int(c.execute("SELECT COUNT(*) FROM rollup_5m").fetchone()[0])
            log.info("rollup backfill of %s: %d samples of the last %d days -> %d rollup rows",
                     self.path, read, rollup.BACKFILL_DAYS, built)

    # ------------------------------------------------------------ writes
    def _tx(self, fn: Any, *args: Any) -> None:
        with self._wlock:
            try:
                self._w.execute("BEGIN IMMEDIATE")
                try:
                    fn(self._w, *args)
                except BaseException:
                    self._w.execute("ROLLBACK")
                    raise
                self._w.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StorageError(f"SQLite write failed: {exc}") from exc

    def sync_registry(self, nodes: Sequence[RegistryNode]) -> None:
        """Insert or update the registry's nodes (site, role, name; clears 'unregistered')."""
        rows = [(n.node, n.site, n.role, n.name) for n in nodes]
        self._tx(lambda c: c.executemany(q.UPSERT_REGISTRY, rows))

    def write(self, batch: Sequence[Incoming]) -> None:
        """Store a batch in arrival order in ONE transaction, idempotent on (node, seq)."""
        if batch:
            self._tx(self._write, batch)

    def _write(self, c: sqlite3.Connection, batch: Sequence[Incoming]) -> None:
        acc = rollup.Rollup()
        for inc in batch:
            now, msg = inc.received_ms, inc.msg
            c.execute(q.TOUCH_NODE, (inc.node, inc.site, int(inc.unregistered), now))
            if isinstance(msg, Tele):
                for s in msg.samples:  # only rows really inserted go into the rollup
                    if c.execute(q.INSERT_SAMPLE,
                                 _sample_row(inc.site, inc.node, msg, s, now)).rowcount == 1:
                        acc.add_sample(inc.node, s)
                c.executemany(q.INSERT_EVENT, [
                    (inc.node, e.seq, e.ts_ms, inc.site, now, e.kind, e.severity, e.message,
                     json.dumps(e.data)) for e in msg.events])
                c.executemany(q.INSERT_DROP, [(inc.node, lo, hi, reason, now)
                                              for lo, hi, reason in msg.dropped])
            elif isinstance(msg, NodeState):
                c.execute(q.APPLY_STATE, {"node": inc.node, "online": int(msg.online),
                                          "session": msg.session, "now": now})
            elif isinstance(msg, Birth):
                c.execute(q.APPLY_BIRTH, {"node": inc.node, "session": msg.session, "now": now,
                                          "role": msg.role,
                                          "birth": msg.model_dump_json(by_alias=True)})
            elif isinstance(msg, CommandAck):
                c.execute(q.INSERT_ACK, (inc.node, msg.cmd_id, msg.stage, msg.ts_ms, msg.code,
                                         msg.detail, msg.applied_version, now))
        if acc.rows:
            c.executemany(q.UPSERT_ROLLUP, acc.params())

    def add_token(self, name: str, role: str, token_sha256: str) -> None:
        """Store an API token (only its SHA-256) with a role."""
        self._tx(lambda c: c.execute(
            "INSERT OR REPLACE INTO api_tokens VALUES (?, ?, ?, ?)",
            (token_sha256, name, role, int(time.time() * 1000))))

    # ------------------------------------------------------------ reads
    def _query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        with self._rlock:
            try:
                cur = self._r.execute(sql, params)
                return [_row(cur, r) for r in cur.fetchall()]
            except sqlite3.Error as exc:
                raise StorageError(f"SQLite read failed: {exc}") from exc

    def list_nodes(self) -> list[dict[str, Any]]:
        """Every node with presence and headline fields of its newest sample."""
        return self._query(q.NODES.format(where=""))

    def node_detail(self, node: str, now_ms: int, grace_ms: int) -> dict[str, Any] | None:
        """Birth info, last sample, presence, gap/drop summary of one node (None if unknown)."""
        rows = self._query(q.NODES.format(where="WHERE n.node = ?"), (node,))
        if not rows:
            return None
        birth = self._query("SELECT birth, birth_ms FROM nodes WHERE node = ?", (node,))[0]
        last = self._query(f"SELECT {q.SAMPLE_COLUMNS} FROM samples WHERE node = ? "
                           "ORDER BY seq DESC LIMIT 1", (node,))
        counts = self._query(
            "SELECT (SELECT COUNT(*) FROM samples WHERE node = :n) AS samples,"
            " (SELECT COUNT(*) FROM events WHERE node = :n) AS events,"
            " (SELECT MIN(m) FROM (SELECT MIN(seq) m FROM samples WHERE node = :n"
            "  UNION ALL SELECT MIN(seq) FROM events WHERE node = :n)) AS min_seq,"
            " (SELECT MAX(m) FROM (SELECT MAX(seq) m FROM samples WHERE node = :n"
            "  UNION ALL SELECT MAX(seq) FROM events WHERE node = :n)) AS max_seq",
            {"n": node})[0]
        gaps = self.gaps(now_ms, grace_ms, node)
        drops = self.drops(node)
        return {
            **rows[0],
            "birth": json.loads(birth["birth"]) if birth["birth"] else None,
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
        sql = f"SELECT {cols} FROM {table} WHERE node = ? AND ts_ms >= ? AND ts_ms < ? "
        sql += "ORDER BY ts_ms, seq LIMIT ?"
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

    def drops(self, node: str) -> list[dict[str, Any]]:
        """Ranges the agent reported as dropped on its side."""
        return self._query("SELECT from_seq, to_seq, reason, received_ms FROM drops "
                           "WHERE node = ? ORDER BY from_seq", (node,))

    def gaps(self, now_ms: int, grace_ms: int, node: str | None = None) -> list[Gap]:
        """Gaps older than the grace period, minus agent-reported drops."""
        where = "WHERE node = :node" if node is not None else ""
        raw = self._query(q.GAPS.format(where=where),
                          {"node": node, "cutoff": now_ms - grace_ms})
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
        row = self._query(
            "SELECT (SELECT COUNT(*) FROM nodes) AS nodes,"
            " (SELECT COUNT(*) FROM nodes WHERE online = 1) AS nodes_online,"
            " (SELECT COUNT(*) FROM nodes WHERE unregistered = 1) AS nodes_unregistered,"
            " (SELECT COUNT(*) FROM samples) AS samples,"
            " (SELECT COUNT(*) FROM events) AS events,"
            " (SELECT COUNT(*) FROM drops) AS drops")
        return {k: int(v or 0) for k, v in row[0].items()}

    def token_role(self, token_sha256: str) -> tuple[str, str] | None:
        """(name, role) of a stored token, or None."""
        rows = self._query("SELECT name, role FROM api_tokens WHERE token_sha256 = ?",
                           (token_sha256,))
        return (rows[0]["name"], rows[0]["role"]) if rows else None

    def close(self) -> None:
        """Close every connection."""
        with self._wlock, self._rlock:
            self._r.close()
            self._w.close()
