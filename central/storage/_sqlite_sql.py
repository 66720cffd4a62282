"""SQL text of the SQLite backend: schema, presence rules, upserts (the rest: _dialect.py)."""

from central.storage import rollup
from central.storage._dialect import Dialect

# 1: the tables below without rollup_5m; 2: rollup_5m (created and backfilled on open)
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    node TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    role TEXT,
    name TEXT NOT NULL DEFAULT '',
    unregistered INTEGER NOT NULL DEFAULT 0,
    online INTEGER NOT NULL DEFAULT 0,
    session INTEGER,
    last_seen_ms INTEGER,
    online_since_ms INTEGER,
    offline_since_ms INTEGER,
    birth_ms INTEGER,
    birth TEXT
);
CREATE TABLE IF NOT EXISTS samples (
    node TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    site TEXT NOT NULL,
    session INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    historical INTEGER NOT NULL,
    active_uplink TEXT,
    rtt_ms REAL,
    loss_pct REAL,
    users_total INTEGER,
    users_authenticated INTEGER,
    cpu_pct REAL,
    mem_pct REAL,
    temp_c REAL,
    throttle_version INTEGER,
    throttle_down_kbps INTEGER,
    throttle_up_kbps INTEGER,
    data TEXT NOT NULL,
    PRIMARY KEY (node, seq)
);  -- a rowid table: rows of ~1 KB insert ~3x faster than WITHOUT ROWID (bench/ingest.py);
    -- databases created before keep their WITHOUT ROWID table (same queries, same answers)
CREATE INDEX IF NOT EXISTS samples_node_ts ON samples (node, ts_ms);
CREATE TABLE IF NOT EXISTS events (
    node TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    site TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (node, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_node_ts ON events (node, ts_ms);
CREATE TABLE IF NOT EXISTS drops (
    node TEXT NOT NULL,
    from_seq INTEGER NOT NULL,
    to_seq INTEGER NOT NULL,
    reason TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (node, from_seq, to_seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cmd_acks (
    node TEXT NOT NULL,
    cmd_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    code TEXT NOT NULL,
    detail TEXT NOT NULL,
    applied_version INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (node, cmd_id, stage)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS api_tokens (
    token_sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rollup_5m (
    node TEXT NOT NULL,
    uplink TEXT NOT NULL,  -- '' = the node-level row
    bucket_ms INTEGER NOT NULL,  -- start of the 5-minute bucket (sample ts_ms rounded down)
    n INTEGER NOT NULL,
    rtt_sum REAL NOT NULL,
    rtt_n INTEGER NOT NULL,
    loss_sum REAL NOT NULL,
    loss_n INTEGER NOT NULL,
    users_sum REAL NOT NULL,
    users_n INTEGER NOT NULL,
    rx_sum REAL NOT NULL,
    tx_sum REAL NOT NULL,
    rate_n INTEGER NOT NULL,
    rx_n INTEGER NOT NULL,
    users_max INTEGER,
    shape_down_max INTEGER,
    shape_up_max INTEGER,
    first_key INTEGER NOT NULL,  -- MIN(ts_ms * 64 + uplink position): chart order
    PRIMARY KEY (node, uplink, bucket_ms)
) WITHOUT ROWID;
"""

UPSERT_ROLLUP = rollup.upsert_sql("?", "MAX", "MIN")
# Which of these seqs (a JSON array) of a node are stored already (primary-key lookups).
STORED_SEQS = "SELECT seq FROM samples WHERE node = ? AND seq IN (SELECT value FROM json_each(?))"
# One page of the backfill: a node's samples from a time on, in (ts_ms, seq) order.
SAMPLES_PAGE = """
SELECT seq, ts_ms, data FROM samples WHERE node = :node AND (ts_ms, seq) > (:ts, :seq)
ORDER BY ts_ms, seq LIMIT :limit
"""

UPSERT_REGISTRY = """
INSERT INTO nodes (node, site, role, name, unregistered) VALUES (?, ?, ?, ?, 0)
ON CONFLICT (node) DO UPDATE SET site = excluded.site, role = excluded.role,
    name = excluded.name, unregistered = 0
"""

# A node first seen on the wire; flagged when the registry does not know it.
TOUCH_NODE = """
INSERT INTO nodes (node, site, unregistered, last_seen_ms) VALUES (?, ?, ?, ?)
ON CONFLICT (node) DO UPDATE SET
    last_seen_ms = MAX(COALESCE(nodes.last_seen_ms, 0), excluded.last_seen_ms)
"""

# Presence is guarded by session: only the same or a newer session may change it, so a late
# Will of an old connection is ignored. Within one session, offline is final.
APPLY_STATE = """
UPDATE nodes SET
    online = :online,
    online_since_ms = CASE WHEN :online AND (online = 0 OR session IS NOT :session)
                           THEN :now ELSE online_since_ms END,
    offline_since_ms = CASE WHEN :online THEN NULL
                            WHEN online = 1 OR offline_since_ms IS NULL THEN :now
                            ELSE offline_since_ms END,
    session = :session
WHERE node = :node AND (session IS NULL OR session < :session
                        OR (session = :session AND (online = 1 OR NOT :online)))
"""

APPLY_BIRTH = """
UPDATE nodes SET
    online = 1,
    online_since_ms = CASE WHEN online = 0 OR session IS NOT :session
                           THEN :now ELSE online_since_ms END,
    offline_since_ms = NULL,
    session = :session,
    role = COALESCE(CASE WHEN unregistered THEN :role END, role, :role),
    birth_ms = :now,
    birth = :birth
WHERE node = :node AND (session IS NULL OR session < :session
                        OR (session = :session AND online = 1))
"""

COUNTS = """
SELECT (SELECT COUNT(*) FROM samples WHERE node = :n) AS samples,
       (SELECT COUNT(*) FROM events WHERE node = :n) AS events,
       (SELECT MIN(m) FROM (SELECT MIN(seq) m FROM samples WHERE node = :n
                            UNION ALL SELECT MIN(seq) FROM events WHERE node = :n)) AS min_seq,
       (SELECT MAX(m) FROM (SELECT MAX(seq) m FROM samples WHERE node = :n
                            UNION ALL SELECT MAX(seq) FROM events WHERE node = :n)) AS max_seq
"""

TOTALS = """
SELECT (SELECT COUNT(*) FROM nodes) AS nodes,
       (SELECT COUNT(*) FROM nodes WHERE online = 1) AS nodes_online,
       (SELECT COUNT(*) FROM nodes WHERE unregistered = 1) AS nodes_unregistered,
       (SELECT COUNT(*) FROM samples) AS samples,
       (SELECT COUNT(*) FROM events) AS events,
       (SELECT COUNT(*) FROM drops) AS drops
"""

# Each node (n) with its newest sample (s).
NODES_FROM = """FROM nodes n LEFT JOIN samples s ON s.node = n.node
    AND s.seq = (SELECT MAX(seq) FROM samples WHERE node = n.node)"""

SQL = Dialect(named=":{}", placeholder="?", as_int="", sum_cast="", nodes_from=NODES_FROM,
              upsert_registry=UPSERT_REGISTRY, touch_node=TOUCH_NODE, apply_state=APPLY_STATE,
              apply_birth=APPLY_BIRTH, counts=COUNTS, totals=TOTALS)
