"""What the SQLite and PostgreSQL backends share: the row of a sample, and every Storage read as
one code path over each dialect's statements (``ReadSql``), so both answer in the same shape.

Statements whose text is the same in both dialects but for the spelling of a named parameter
(``:name`` / ``%(name)s``) are built here from ``ReadSql.param``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from central.storage.base import Gap, NodeFloors, subtract_ranges
from protocol.messages import Sample, Tele

MAX_TS = 2**63 - 1


def sample_row(site: str, node: str, tele: Tele, s: Sample, now: int) -> tuple[Any, ...]:
    """The samples row of one sample (INSERT_SAMPLE's column order)."""
    active = next((u for u in s.uplinks if u.active), None)
    sh = s.shaping
    return (node, s.seq, s.ts_ms, site, tele.session, now, tele.historical,
            active.name if active else None, active.rtt_ms if active else None,
            active.loss_pct if active else None, s.users.total, s.users.authenticated,
            s.system.cpu_pct, s.system.mem_pct, s.system.temp_c,
            sh.version if sh else None, sh.down_kbps if sh else None, sh.up_kbps if sh else None,
            s.model_dump_json())


@dataclass(frozen=True)
class ReadSql:
    """The read statements of one SQL dialect (``nodes`` takes a ``{where}`` clause)."""

    param: Callable[[str], str]  # spells a named parameter: ":node" or "%(node)s"
    nodes: str
    sample_columns: str
    event_columns: str
    counts: str  # per-node record counts and seq range, parameter ``n``
    totals: str
    rollup_series: str
    site_rx: str

    def by_node(self, column: str = "node") -> str:
        """``WHERE <column> = <node parameter>``."""
        return f"WHERE {column} = {self.param('node')}"

    def window(self, table: str, cols: str) -> str:
        """Rows of a node with lo <= ts_ms < hi, oldest first, at most ``limit``."""
        p = self.param
        return (f"SELECT {cols} FROM {table} {self.by_node()} AND ts_ms >= {p('lo')} "
                f"AND ts_ms < {p('hi')} ORDER BY ts_ms, seq LIMIT {p('limit')}")

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


class SqlBackend:
    """Storage reads over ``_query`` (each backend's read connection) and its ``_sql``."""

    _sql: ReadSql

    def _query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def list_nodes(self) -> list[dict[str, Any]]:
        """Every node with presence and headline fields of its newest sample."""
        return self._query(self._sql.nodes.format(where=""))

    def node_detail(self, node: str, now_ms: int, grace_ms: int) -> dict[str, Any] | None:
        """Birth info, last sample, presence, gap/drop summary of one node (None if unknown)."""
        q, arg = self._sql, {"node": node}
        rows = self._query(q.nodes.format(where=q.by_node("n.node")), arg)
        if not rows:
            return None
        birth = self._query(f"SELECT birth, birth_ms FROM nodes {q.by_node()}", arg)[0]
        last = self._query(f"SELECT {q.sample_columns} FROM samples {q.by_node()} "
                           "ORDER BY seq DESC LIMIT 1", arg)
        counts = self._query(q.counts, {"n": node})[0]
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
        return self._query(self._sql.window(table, cols), {
            "node": node, "lo": 0 if since_ms is None else since_ms,
            "hi": MAX_TS if until_ms is None else until_ms, "limit": limit})

    def samples(self, node: str, since_ms: int | None, until_ms: int | None,
                limit: int) -> list[dict[str, Any]]:
        """Samples of a node with since_ms <= ts_ms < until_ms, oldest first, at most limit."""
        return self._window("samples", self._sql.sample_columns, node, since_ms, until_ms,
                            limit)

    def events(self, node: str, since_ms: int | None, until_ms: int | None,
               limit: int) -> list[dict[str, Any]]:
        """Events of a node in a time window, oldest first, at most limit."""
        return self._window("events", self._sql.event_columns, node, since_ms, until_ms, limit)

    def rollup(self, node: str, since_ms: int, until_ms: int,
               bucket_ms: int) -> list[dict[str, Any]]:
        """5-minute rollup rows of a node with since <= bucket start < until, merged per
        (uplink, k = (bucket start - since) // bucket_ms); ordered by k, uplink."""
        return self._query(self._sql.rollup_series, {"node": node, "since": since_ms,
                                                     "until": until_ms, "bucket": bucket_ms})

    def site_rx(self, since_ms: int, until_ms: int) -> list[dict[str, Any]]:
        """(site, bucket_ms, rx_bps): per site and 5-minute bucket the sum over its nodes of
        each node's mean per-sample total rx_bps; buckets with since <= start < until."""
        return self._query(self._sql.site_rx, {"since": since_ms, "until": until_ms})

    def drops(self, node: str) -> list[dict[str, Any]]:
        """Ranges the agent reported as dropped on its side."""
        return self._query("SELECT from_seq, to_seq, reason, received_ms FROM drops "
                           f"{self._sql.by_node()} ORDER BY from_seq", {"node": node})

    def gaps(self, now_ms: int, grace_ms: int, node: str | None = None) -> list[Gap]:
        """Gaps older than the grace period, minus agent-reported drops."""
        where = self._sql.by_node() if node is not None else ""
        raw = self._query(self._sql.gaps(where), {"node": node, "cutoff": now_ms - grace_ms})
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
        row = self._query(self._sql.node_floors(), {"n": node})[0]
        return NodeFloors.above([row["sample_seq"], row["event_seq"], row["drop_seq"]],
                                [row["node_session"], row["sample_session"]])

    def totals(self) -> dict[str, int]:
        """Row counts (nodes, nodes_online, samples, events, drops) for stats and metrics."""
        return {k: int(v or 0) for k, v in self._query(self._sql.totals)[0].items()}

    def token_role(self, token_sha256: str) -> tuple[str, str] | None:
        """(name, role) of a stored token, or None."""
        rows = self._query("SELECT name, role FROM api_tokens WHERE token_sha256 = "
                           f"{self._sql.param('digest')}", {"digest": token_sha256})
        return (rows[0]["name"], rows[0]["role"]) if rows else None
