"""The statements of one SQL dialect, for the code both backends share (``_sql_backend``).

A ``Dialect`` holds the statements whose text really differs between SQLite and PostgreSQL
(presence rules, upserts, the newest-sample join, counts); every statement that differs only
in the spelling of parameters (``?``/``%s``, ``:name``/``%(name)s``) or of a 0/1 flag
(``::int``) is built here once from that spelling.
"""

from __future__ import annotations

from dataclasses import dataclass

from central.storage import rollup

SAMPLE_INSERT_COLUMNS = (
    "node, seq, ts_ms, site, session, received_ms, historical, active_uplink, rtt_ms, loss_pct, "
    "users_total, users_authenticated, cpu_pct, mem_pct, temp_c, throttle_version, "
    "throttle_down_kbps, throttle_up_kbps, data")
SAMPLE_COLUMN_COUNT = len(SAMPLE_INSERT_COLUMNS.split(","))
EVENT_COLUMNS = "seq, ts_ms, site, received_ms, kind, severity, message, data"
#: What retention may delete: table -> (its time column, its key besides ``node``). Every
#: table's primary key (or the (node, ts_ms) index) starts with node, so a batch of one node is
#: an index range scan, never a scan of the whole table.
RETENTION_TABLES: dict[str, tuple[str, str]] = {
    "samples": ("ts_ms", "seq"),
    "events": ("ts_ms", "seq"),
    "drops": ("received_ms", "from_seq, to_seq"),
    "cmd_acks": ("received_ms", "cmd_id, stage"),
    "rollup_5m": ("bucket_ms", "uplink, bucket_ms"),
}


def insert_once(table: str, columns: str, key: str, placeholder: str) -> str:
    """INSERT of one row that does nothing when a row with the same key exists."""
    values = ", ".join([placeholder] * len(columns.split(",")))
    return (f"INSERT INTO {table} ({columns}) VALUES ({values}) "
            f"ON CONFLICT ({key}) DO NOTHING")


@dataclass(frozen=True)
class Dialect:
    """One dialect's statements; ``nodes_from`` joins each node (n) to its newest sample (s)."""

    named: str  # a named parameter, "{}" standing for its name: ":{}" or "%({})s"
    placeholder: str  # a positional parameter: "?" or "%s"
    as_int: str  # turns a stored 0/1 flag into an integer: "" or "::int"
    sum_cast: str  # makes SUM() of integers an integer again: "" or "::bigint"
    upsert_registry: str
    touch_node: str
    apply_state: str
    apply_birth: str
    nodes_from: str
    counts: str  # per-node record counts and seq range, parameter ``n``
    totals: str

    def param(self, name: str) -> str:
        """A named parameter in this dialect's spelling."""
        return self.named.format(name)

    @property
    def rollup_series(self) -> str:
        """A node's rollup rows re-aggregated to chart buckets (rollup.series_sql)."""
        return rollup.series_sql(self.param, self.sum_cast)

    @property
    def site_rx(self) -> str:
        """Per site and 5-minute bucket, the sum of its nodes' mean rx_bps (rollup.site_rx_sql)."""
        return rollup.site_rx_sql(self.param)

    def insert(self, table: str, columns: str, key: str) -> str:
        """INSERT ... ON CONFLICT (key) DO NOTHING with this dialect's placeholders."""
        return insert_once(table, columns, key, self.placeholder)

    @property
    def insert_sample(self) -> str:
        """One sample row, ignored if (node, seq) is stored."""
        return self.insert("samples", SAMPLE_INSERT_COLUMNS, "node, seq")

    @property
    def insert_event(self) -> str:
        """One event row, ignored if (node, seq) is stored."""
        return self.insert("events", f"node, {EVENT_COLUMNS}", "node, seq")

    @property
    def insert_drop(self) -> str:
        """One agent-reported dropped range."""
        return self.insert("drops", "node, from_seq, to_seq, reason, received_ms",
                           "node, from_seq, to_seq")

    @property
    def insert_ack(self) -> str:
        """One command ack stage as the collector saw it."""
        return self.insert("cmd_acks", "node, cmd_id, stage, ts_ms, code, detail, "
                           "applied_version, received_ms", "node, cmd_id, stage")

    @property
    def sample_columns(self) -> str:
        """The columns of a stored sample as reads return them."""
        return (f"seq, ts_ms, site, session, received_ms, historical{self.as_int} AS historical, "
                "active_uplink, rtt_ms, loss_pct, users_total, users_authenticated, cpu_pct, "
                "mem_pct, temp_c, throttle_version, throttle_down_kbps, throttle_up_kbps, data")

    def nodes(self, where: str = "") -> str:
        """Every node (or those ``where`` selects) with headline fields of its newest sample."""
        flags = ", ".join(f"n.{c}{self.as_int} AS {c}" for c in ("unregistered", "online"))
        return (f"SELECT n.node, n.site, n.role, n.name, {flags}, n.session, n.last_seen_ms, "
                "n.online_since_ms, n.offline_since_ms, s.seq AS last_seq, "
                "s.ts_ms AS last_sample_ms, s.received_ms AS last_received_ms, "
                "s.active_uplink, s.rtt_ms, s.loss_pct, s.users_total, s.users_authenticated, "
                "s.cpu_pct, s.temp_c, s.throttle_version, s.throttle_down_kbps, "
                f"s.throttle_up_kbps {self.nodes_from} {where} ORDER BY n.site, n.node")

    def by_node(self, column: str = "node") -> str:
        """``WHERE <column> = <node parameter>``."""
        return f"WHERE {column} = {self.param('node')}"

    def window(self, table: str, cols: str) -> str:
        """Rows of a node with lo <= ts_ms < hi, oldest first, at most ``limit``."""
        p = self.param
        return (f"SELECT {cols} FROM {table} {self.by_node()} AND ts_ms >= {p('lo')} "
                f"AND ts_ms < {p('hi')} ORDER BY ts_ms, seq LIMIT {p('limit')}")

    def delete_old(self, table: str) -> str:
        """Delete at most ``limit`` rows of one node older than ``cutoff`` (RETENTION_TABLES;
        the same text on both dialects: row values IN a LIMITed subquery of the key)."""
        column, key = RETENTION_TABLES[table]
        p = self.param
        return (f"DELETE FROM {table} WHERE node = {p('node')} AND ({key}) IN ("
                f"SELECT {key} FROM {table} WHERE node = {p('node')} AND {column} < {p('cutoff')} "
                f"LIMIT {p('limit')})")

    def gaps(self, where: str) -> str:
        """Holes between consecutive known record seqs (samples and events share one seq
        space), visible only once the record after the hole has been known for the grace."""
        return f"""
WITH recs AS (
    SELECT node, seq, received_ms FROM samples {where}
    UNION ALL
    SELECT node, seq, received_ms FROM events {where}
), ordered AS (
    SELECT node, seq, received_ms,
           LAG(seq) OVER (PARTITION BY node ORDER BY seq) AS prev
    FROM recs
)
SELECT node, prev + 1 AS from_seq, seq - 1 AS to_seq, received_ms
FROM ordered
WHERE prev IS NOT NULL AND seq > prev + 1 AND received_ms <= {self.param('cutoff')}
ORDER BY node, from_seq
"""

    def node_floors(self) -> str:
        """What a node that lost its own state must continue above (read at enrolment). Every
        lookup is a primary-key range (the newest sample's session stands for the samples')."""
        n = self.param("n")
        return f"""
SELECT (SELECT MAX(seq) FROM samples WHERE node = {n}) AS sample_seq,
       (SELECT MAX(seq) FROM events WHERE node = {n}) AS event_seq,
       (SELECT MAX(to_seq) FROM drops WHERE node = {n}) AS drop_seq,
       (SELECT session FROM nodes WHERE node = {n}) AS node_session,
       (SELECT session FROM samples WHERE node = {n} ORDER BY seq DESC LIMIT 1) AS sample_session
"""
