"""What the SQLite and PostgreSQL backends share: the rows and parameters each message writes,
and every Storage read as one code path over each dialect's statements (``_dialect.Dialect``),
so both store and answer in the same shape.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from central.storage import rollup
from central.storage._dialect import EVENT_COLUMNS, Dialect
from central.storage.base import Gap, Incoming, NodeFloors, subtract_ranges
from protocol.messages import Birth, CommandAck, NodeState, Sample, Tele

MAX_TS = 2**63 - 1
_SAMPLE_JSON = Sample.__pydantic_serializer__.to_json  # = model_dump_json(), minus its wrapper


def sample_row(site: str, node: str, tele: Tele, s: Sample, now: int) -> tuple[Any, ...]:
    """The samples row of one sample (INSERT_SAMPLE's column order)."""
    active = next((u for u in s.uplinks if u["active"]), None)
    sh = s.shaping
    return (node, s.seq, s.ts_ms, site, tele.session, now, tele.historical,
            active["name"] if active else None, active["rtt_ms"] if active else None,
            active["loss_pct"] if active else None, s.users.total, s.users.authenticated,
            s.system.cpu_pct, s.system.mem_pct, s.system.temp_c,
            sh.version if sh else None, sh.down_kbps if sh else None, sh.up_kbps if sh else None,
            _SAMPLE_JSON(s).decode())


def touches(batch: Sequence[Incoming]) -> list[tuple[str, str, bool, int]]:
    """TOUCH_NODE's rows for a batch: one per node in sorted order (one lock order for every
    writer), with the site and flag of its first message and its newest receive time."""
    out: dict[str, tuple[str, str, bool, int]] = {}
    for inc in batch:
        seen = out.get(inc.node)
        if seen is None or inc.received_ms > seen[3]:
            out[inc.node] = (inc.node, *(seen[1:3] if seen else (inc.site, inc.unregistered)),
                             inc.received_ms)
    return [out[k] for k in sorted(out)]


def sample_rows(batch: Sequence[Incoming]) -> tuple[list[tuple[Any, ...]],
                                                     list[tuple[str, Sample]]]:
    """Every sample row of a batch in arrival order, and (node, sample) of each row."""
    rows: list[tuple[Any, ...]] = []
    owners: list[tuple[str, Sample]] = []
    for inc in batch:
        msg = inc.msg
        if isinstance(msg, Tele) and msg.samples:
            site, node, now = inc.site, inc.node, inc.received_ms
            rows.extend(sample_row(site, node, msg, s, now) for s in msg.samples)
            owners.extend((node, s) for s in msg.samples)
    return rows, owners


def fold_stored(owners: Sequence[tuple[str, Sample]], stored: Iterable[tuple[str, int]],
                acc: rollup.Rollup) -> None:
    """Fold into acc the samples the INSERT really stored (``stored``: its RETURNING node, seq
    rows); of two samples of one batch with the same (node, seq) only the first was stored."""
    left = set(stored)
    if not left:
        return
    node_samples: dict[str, list[Sample]] = {}
    for node, s in owners:
        key = (node, s.seq)
        if key in left:
            left.discard(key)  # type: ignore[arg-type]
            node_samples.setdefault(node, []).append(s)
    for node, samples in node_samples.items():
        acc.fold(node, samples)


def message_writes(sql: Dialect, inc: Incoming,
                   text: Callable[[str], str] = str) -> Iterator[tuple[str, Any, bool]]:
    """The writes of one message besides TOUCH_NODE and its samples: (statement, parameters,
    executemany?). ``text`` cleans free text a dialect cannot store (PostgreSQL: NUL)."""
    now, msg = inc.received_ms, inc.msg
    if isinstance(msg, Tele):
        if msg.events:
            yield sql.insert_event, [
                (inc.node, e.seq, e.ts_ms, inc.site, now, text(e.kind), e.severity,
                 text(e.message), json.dumps(e.data)) for e in msg.events], True
        if msg.dropped:
            yield sql.insert_drop, [(inc.node, lo, hi, reason, now)
                                    for lo, hi, reason in msg.dropped], True
    elif isinstance(msg, NodeState):
        yield sql.apply_state, {"node": inc.node, "online": msg.online, "session": msg.session,
                                "now": now}, False
    elif isinstance(msg, Birth):
        yield sql.apply_birth, {"node": inc.node, "session": msg.session, "now": now,
                                "role": msg.role,
                                "birth": msg.model_dump_json(by_alias=True)}, False
    elif isinstance(msg, CommandAck):
        yield sql.insert_ack, (inc.node, text(msg.cmd_id), msg.stage, msg.ts_ms, text(msg.code),
                               text(msg.detail), msg.applied_version, now), False


class SqlBackend:
    """Storage reads over ``_query`` (each backend's read connection) and its ``_sql``."""

    _sql: Dialect

    def _query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _delete(self, sql: str, params: dict[str, Any]) -> int:
        """Run one DELETE in its own short transaction (off the ingest path); its rowcount."""
        raise NotImplementedError

    def retention_nodes(self) -> list[str]:
        """Every node that may have rows (retention walks them one at a time)."""
        return [r["node"] for r in self._query("SELECT node FROM nodes ORDER BY node")]

    def delete_old(self, table: str, node: str, cutoff_ms: int, limit: int) -> int:
        """Delete at most ``limit`` rows of ``node`` in ``table`` whose time column
        (``_dialect.RETENTION_TABLES``) is < cutoff_ms, in one transaction; how many."""
        return self._delete(self._sql.delete_old(table),
                            {"node": node, "cutoff": cutoff_ms, "limit": limit})

    def list_nodes(self) -> list[dict[str, Any]]:
        """Every node with presence and headline fields of its newest sample."""
        return self._query(self._sql.nodes())

    def node_detail(self, node: str, now_ms: int, grace_ms: int) -> dict[str, Any] | None:
        """Birth info, last sample, presence, gap/drop summary of one node (None if unknown)."""
        q, arg = self._sql, {"node": node}
        rows = self._query(q.nodes(q.by_node("n.node")), arg)
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
        return self._window("events", EVENT_COLUMNS, node, since_ms, until_ms, limit)

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
