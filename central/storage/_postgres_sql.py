"""SQL text of the PostgreSQL backend: migrations, idempotent inserts, presence rules, gaps.

Mirrors _sqlite_sql.py statement for statement (statements that differ only in their
parameters are built in _dialect.py). Differences are PostgreSQL's only: BOOLEAN
flags read back as 0/1 (the SQLite shape), ids sort bytewise (COLLATE "C", as SQLite's BINARY),
JSON columns of type json (exact text; accepts what SQLite stores), named %(x)s parameters.
"""

from central.storage import rollup
from central.storage._dialect import SAMPLE_COLUMN_COUNT, SAMPLE_INSERT_COLUMNS, Dialect

# Serialises schema migrations of collectors starting at the same time (any constant works).
MIGRATION_LOCK = 0x6B6F74616E6574  # "kotanet"

SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_ms BIGINT NOT NULL
)
"""

_V1 = """
CREATE TABLE nodes (
    node TEXT COLLATE "C" PRIMARY KEY,
    site TEXT COLLATE "C" NOT NULL,
    role TEXT,
    name TEXT NOT NULL DEFAULT '',
    unregistered BOOLEAN NOT NULL DEFAULT FALSE,
    online BOOLEAN NOT NULL DEFAULT FALSE,
    session BIGINT,
    last_seen_ms BIGINT,
    online_since_ms BIGINT,
    offline_since_ms BIGINT,
    birth_ms BIGINT,
    birth JSON
);
CREATE TABLE samples (
    node TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    ts_ms BIGINT NOT NULL,
    site TEXT COLLATE "C" NOT NULL,
    session BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    historical BOOLEAN NOT NULL,
    active_uplink TEXT,
    rtt_ms DOUBLE PRECISION,
    loss_pct DOUBLE PRECISION,
    users_total BIGINT,
    users_authenticated BIGINT,
    cpu_pct DOUBLE PRECISION,
    mem_pct DOUBLE PRECISION,
    temp_c DOUBLE PRECISION,
    throttle_version BIGINT,
    throttle_down_kbps BIGINT,
    throttle_up_kbps BIGINT,
    data JSON NOT NULL,
    PRIMARY KEY (node, seq)
);
CREATE INDEX samples_node_ts ON samples (node, ts_ms);
CREATE TABLE events (
    node TEXT COLLATE "C" NOT NULL,
    seq BIGINT NOT NULL,
    ts_ms BIGINT NOT NULL,
    site TEXT COLLATE "C" NOT NULL,
    received_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    data JSON NOT NULL,
    PRIMARY KEY (node, seq)
);
CREATE INDEX events_node_ts ON events (node, ts_ms);
CREATE TABLE drops (
    node TEXT COLLATE "C" NOT NULL,
    from_seq BIGINT NOT NULL,
    to_seq BIGINT NOT NULL,
    reason TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (node, from_seq, to_seq)
);
CREATE TABLE cmd_acks (
    node TEXT COLLATE "C" NOT NULL,
    cmd_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    code TEXT NOT NULL,
    detail TEXT NOT NULL,
    applied_version BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (node, cmd_id, stage)
);
CREATE TABLE api_tokens (
    token_sha256 TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    created_ms BIGINT NOT NULL
);
"""

# 2: the 5-minute rollup (see rollup.py); postgres.py backfills it in the same transaction.
_V2 = """
CREATE TABLE rollup_5m (
    node TEXT COLLATE "C" NOT NULL,
    uplink TEXT COLLATE "C" NOT NULL,
    bucket_ms BIGINT NOT NULL,
    n BIGINT NOT NULL,
    rtt_sum DOUBLE PRECISION NOT NULL,
    rtt_n BIGINT NOT NULL,
    loss_sum DOUBLE PRECISION NOT NULL,
    loss_n BIGINT NOT NULL,
    users_sum DOUBLE PRECISION NOT NULL,
    users_n BIGINT NOT NULL,
    rx_sum DOUBLE PRECISION NOT NULL,
    tx_sum DOUBLE PRECISION NOT NULL,
    rate_n BIGINT NOT NULL,
    rx_n BIGINT NOT NULL,
    users_max BIGINT,
    shape_down_max BIGINT,
    shape_up_max BIGINT,
    first_key BIGINT NOT NULL,
    PRIMARY KEY (node, uplink, bucket_ms)
);
"""

# version -> DDL that brings version-1 to version; append, never edit a released entry.
MIGRATIONS: dict[int, str] = {1: _V1, 2: _V2}
SCHEMA_VERSION = max(MIGRATIONS)

UPSERT_REGISTRY = """
INSERT INTO nodes (node, site, role, name, unregistered) VALUES (%s, %s, %s, %s, FALSE)
ON CONFLICT (node) DO UPDATE SET site = EXCLUDED.site, role = EXCLUDED.role,
    name = EXCLUDED.name, unregistered = FALSE
"""

# A node first seen on the wire; flagged when the registry does not know it. The row lock this
# takes serialises every writer of one node until commit (nodes are touched in sorted order).
TOUCH_NODE = """
INSERT INTO nodes (node, site, unregistered, last_seen_ms) VALUES (%s, %s, %s, %s)
ON CONFLICT (node) DO UPDATE SET
    last_seen_ms = GREATEST(nodes.last_seen_ms, EXCLUDED.last_seen_ms)
"""

# Presence is guarded by session: only the same or a newer session may change it, so a late
# Will of an old connection is ignored. Within one session, offline is final. READ COMMITTED
# re-checks the WHERE on the newest row version, so concurrent collectors never lose updates.
APPLY_STATE = """
UPDATE nodes SET
    online = %(online)s,
    online_since_ms = CASE WHEN %(online)s AND (NOT online OR session IS DISTINCT FROM %(session)s)
                           THEN %(now)s ELSE online_since_ms END,
    offline_since_ms = CASE WHEN %(online)s THEN NULL
                            WHEN online OR offline_since_ms IS NULL THEN %(now)s
                            ELSE offline_since_ms END,
    session = %(session)s
WHERE node = %(node)s AND (session IS NULL OR session < %(session)s
                           OR (session = %(session)s AND (online OR NOT %(online)s)))
"""

APPLY_BIRTH = """
UPDATE nodes SET
    online = TRUE,
    online_since_ms = CASE WHEN NOT online OR session IS DISTINCT FROM %(session)s
                           THEN %(now)s ELSE online_since_ms END,
    offline_since_ms = NULL,
    session = %(session)s,
    role = COALESCE(CASE WHEN unregistered THEN %(role)s END, role, %(role)s),
    birth_ms = %(now)s,
    birth = %(birth)s
WHERE node = %(node)s AND (session IS NULL OR session < %(session)s
                           OR (session = %(session)s AND online))
"""



UPSERT_ROLLUP = rollup.upsert_sql("%s", "GREATEST", "LEAST")
# The one-time backfill of one node, in the database (set-based; rollup.py's semantics spelled
# in SQL: tests/pg/test_pg_rollup.py checks it against the insert-time rollup, column by column).
_BACKFILL_SAMPLES = """
    SELECT node, ts_ms, data::jsonb AS d,
           CASE WHEN jsonb_typeof(data::jsonb->'uplinks') = 'array'
                THEN data::jsonb->'uplinks' ELSE '[]'::jsonb END AS ups
    FROM samples WHERE node = %(node)s AND ts_ms >= %(since)s
    OFFSET 0
"""  # OFFSET 0: not inlined, so each sample's JSON is parsed once, not once per field

BACKFILL_NODE_ROWS = f"""
INSERT INTO rollup_5m (node, uplink, bucket_ms, n, rtt_sum, rtt_n, loss_sum, loss_n, users_sum,
    users_n, rx_sum, tx_sum, rate_n, rx_n, users_max, shape_down_max, shape_up_max, first_key)
SELECT node, '', bucket_ms, COUNT(*), 0, 0, 0, 0,
       COALESCE(SUM(users), 0), COUNT(users),
       COALESCE(SUM(rx) FILTER (WHERE has_rate), 0), COALESCE(SUM(tx) FILTER (WHERE has_rate), 0),
       COUNT(*) FILTER (WHERE has_rate), COUNT(*) FILTER (WHERE has_rx),
       MAX(users), MAX(NULLIF(down, 0)), MAX(NULLIF(up, 0)), MIN(ts_ms) * 64
FROM (
    SELECT s.node, s.ts_ms, s.ts_ms - s.ts_ms %% {rollup.BUCKET_MS} AS bucket_ms,
           (s.d->'users'->>'total')::bigint AS users,
           (s.d->'shaping'->>'down_kbps')::bigint AS down,
           (s.d->'shaping'->>'up_kbps')::bigint AS up, u.rx, u.tx,
           COALESCE(u.has_rate, FALSE) AS has_rate, COALESCE(u.has_rx, FALSE) AS has_rx
    FROM ({_BACKFILL_SAMPLES}) s
    LEFT JOIN LATERAL (
        SELECT SUM(COALESCE((e->>'rx_bps')::float8, 0)) AS rx,
               SUM(COALESCE((e->>'tx_bps')::float8, 0)) AS tx,
               bool_or(e->>'rx_bps' IS NOT NULL OR e->>'tx_bps' IS NOT NULL) AS has_rate,
               bool_or(e->>'rx_bps' IS NOT NULL) AS has_rx
        FROM jsonb_array_elements(s.ups) e
    ) u ON TRUE
    OFFSET 0
) x
GROUP BY node, bucket_ms
"""

BACKFILL_UPLINK_ROWS = f"""
INSERT INTO rollup_5m (node, uplink, bucket_ms, n, rtt_sum, rtt_n, loss_sum, loss_n, users_sum,
    users_n, rx_sum, tx_sum, rate_n, rx_n, users_max, shape_down_max, shape_up_max, first_key)
SELECT s.node, e.value->>'name', s.ts_ms - s.ts_ms %% {rollup.BUCKET_MS} AS bucket_ms, COUNT(*),
       COALESCE(SUM((e.value->>'rtt_ms')::float8), 0), COUNT(e.value->>'rtt_ms'),
       COALESCE(SUM((e.value->>'loss_pct')::float8), 0), COUNT(e.value->>'loss_pct'),
       0, 0, 0, 0, 0, 0, NULL::bigint, NULL::bigint, NULL::bigint,
       MIN(s.ts_ms * 64 + LEAST(e.ord - 1, 63))
FROM ({_BACKFILL_SAMPLES}) s, jsonb_array_elements(s.ups) WITH ORDINALITY AS e(value, ord)
GROUP BY s.node, e.value->>'name', bucket_ms
"""




UPSERT_TOKEN = """
INSERT INTO api_tokens (token_sha256, name, role, created_ms) VALUES (%s, %s, %s, %s)
ON CONFLICT (token_sha256) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role,
    created_ms = EXCLUDED.created_ms
"""



COUNTS = """
SELECT (SELECT COUNT(*) FROM samples WHERE node = %(n)s) AS samples,
       (SELECT COUNT(*) FROM events WHERE node = %(n)s) AS events,
       LEAST((SELECT MIN(seq) FROM samples WHERE node = %(n)s),
             (SELECT MIN(seq) FROM events WHERE node = %(n)s)) AS min_seq,
       GREATEST((SELECT MAX(seq) FROM samples WHERE node = %(n)s),
                (SELECT MAX(seq) FROM events WHERE node = %(n)s)) AS max_seq
"""

TOTALS = """
SELECT (SELECT COUNT(*) FROM nodes) AS nodes,
       (SELECT COUNT(*) FROM nodes WHERE online) AS nodes_online,
       (SELECT COUNT(*) FROM nodes WHERE unregistered) AS nodes_unregistered,
       (SELECT COUNT(*) FROM samples) AS samples,
       (SELECT COUNT(*) FROM events) AS events,
       (SELECT COUNT(*) FROM drops) AS drops
"""

# Each node (n) with its newest sample (s).
NODES_FROM = """FROM nodes n LEFT JOIN LATERAL
    (SELECT * FROM samples WHERE node = n.node ORDER BY seq DESC LIMIT 1) s ON TRUE"""

SQL = Dialect(named="%({})s", placeholder="%s", as_int="::int", sum_cast="::bigint",
              nodes_from=NODES_FROM, upsert_registry=UPSERT_REGISTRY, touch_node=TOUCH_NODE,
              apply_state=APPLY_STATE, apply_birth=APPLY_BIRTH, counts=COUNTS, totals=TOTALS)
# Every sample row of a batch in one statement (one array per column), answering (node, seq)
# of each row really stored (none for a duplicate).
_SAMPLE_TYPES = ("text", "bigint", "bigint", "text", "bigint", "bigint", "boolean", "text",
                 "float8", "float8", "bigint", "bigint", "float8", "float8", "float8", "bigint",
                 "bigint", "bigint", "json")
INSERT_SAMPLES_UNNEST = (
    f"INSERT INTO samples ({SAMPLE_INSERT_COLUMNS}) SELECT * FROM unnest("
    + ", ".join(f"%b::{t}[]" for t in _SAMPLE_TYPES)  # binary: no per-character escaping
    + ") ON CONFLICT (node, seq) DO NOTHING RETURNING node, seq")

assert len(_SAMPLE_TYPES) == SAMPLE_COLUMN_COUNT
