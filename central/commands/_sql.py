"""SQL of the command service and the leader lease (own tables in central's state database)."""

from __future__ import annotations

SCHEMA = """
CREATE TABLE IF NOT EXISTS cmd_versions (
    node TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS commands (
    cmd_id TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    site TEXT NOT NULL,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    params TEXT NOT NULL,
    issued_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    origin TEXT NOT NULL,
    issued_by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS commands_node ON commands (node, issued_at_ms);
CREATE TABLE IF NOT EXISTS command_acks (
    cmd_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    node TEXT NOT NULL,
    code TEXT NOT NULL,
    detail TEXT NOT NULL,
    applied_version INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (cmd_id, stage)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS desired_state (
    node TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    params TEXT NOT NULL,
    lease_s REAL,
    cmd_id TEXT NOT NULL,
    sent_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cmd_epoch_offsets (
    node TEXT PRIMARY KEY,
    epoch_offset INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leader_lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    renewed_ms INTEGER NOT NULL
) WITHOUT ROWID;
"""
MIGRATIONS = (SCHEMA,)  # migration n = entry n - 1 (central.storage.statedb)

BUMP_VERSION = """
INSERT INTO cmd_versions (node, version) VALUES (:node, :floor + 1)
ON CONFLICT (node) DO UPDATE SET version = CASE WHEN cmd_versions.version > :floor THEN cmd_versions.version
    ELSE :floor END + 1
"""
RAISE_VERSION = """
INSERT INTO cmd_versions (node, version) VALUES (:node, :floor)
ON CONFLICT (node) DO UPDATE SET version = CASE WHEN cmd_versions.version > :floor
    THEN cmd_versions.version ELSE :floor END
"""
GET_VERSION = "SELECT version FROM cmd_versions WHERE node = ?"

INSERT_COMMAND = """
INSERT INTO commands (cmd_id, node, site, kind, version, epoch, params, issued_at_ms,
                      expires_at_ms, origin, issued_by)
VALUES (:cmd_id, :node, :site, :kind, :version, :epoch, :params, :issued_at_ms,
        :expires_at_ms, :origin, :issued_by)
"""
GET_COMMAND = "SELECT * FROM commands WHERE cmd_id = ?"
GET_STAGES = """
SELECT stage, code, detail, applied_version, ts_ms, received_ms FROM command_acks
WHERE cmd_id = ?
ORDER BY CASE stage WHEN 'accepted' THEN 0 ELSE 1 END, received_ms
"""
INSERT_ACK = """
INSERT OR IGNORE INTO command_acks (cmd_id, stage, node, code, detail, applied_version, ts_ms,
                                    received_ms)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""

UPSERT_DESIRED = """
INSERT INTO desired_state (node, site, kind, version, params, lease_s, cmd_id, sent_ms)
VALUES (:node, :site, :kind, :version, :params, :lease_s, :cmd_id, :sent_ms)
ON CONFLICT (node) DO UPDATE SET site = excluded.site, kind = excluded.kind,
    version = excluded.version, params = excluded.params, lease_s = excluded.lease_s,
    cmd_id = excluded.cmd_id, sent_ms = excluded.sent_ms
WHERE excluded.version >= desired_state.version
"""
GET_DESIRED = "SELECT * FROM desired_state WHERE node = ?"
GET_DESIRED_CMD = "SELECT cmd_id FROM desired_state WHERE node = ?"  # copy_desired's check
LEASED_DESIRED = """
SELECT * FROM desired_state WHERE kind = 'set_throttle' AND lease_s IS NOT NULL
ORDER BY node
"""

GET_LEASE = "SELECT holder, epoch, expires_ms, renewed_ms FROM leader_lease WHERE name = ?"
INSERT_LEASE = """
INSERT INTO leader_lease (name, holder, epoch, expires_ms, renewed_ms) VALUES (?, ?, ?, ?, ?)
"""
TAKE_LEASE = """
UPDATE leader_lease SET holder = ?, epoch = ?, expires_ms = ?, renewed_ms = ? WHERE name = ?
"""
RENEW_LEASE = """
UPDATE leader_lease SET expires_ms = ?, renewed_ms = ?
WHERE name = ? AND holder = ? AND epoch = ? AND expires_ms > ?
"""
RELEASE_LEASE = """
UPDATE leader_lease SET expires_ms = 0 WHERE name = ? AND holder = ? AND epoch = ?
"""
MAX_EPOCH = "SELECT COALESCE(MAX(epoch), 0) AS epoch FROM leader_lease"
# A node has seen epoch :seen, above every epoch this database ever granted (it was lost or
# restored from an older backup): move the lease to :seen + 1 in one conditional statement, so
# concurrent instances raise it once and never lower it. The holder and expiry stay (the holder
# picks the new epoch up when its renewal with the old one fails); without a row, an expired
# row is created and the next instance to take it gets :seen + 2.
RAISE_EPOCH = """
INSERT INTO leader_lease (name, holder, epoch, expires_ms, renewed_ms)
SELECT :name, '', :seen + 1, 0, :now
WHERE (SELECT COALESCE(MAX(epoch), 0) FROM leader_lease) < :seen
ON CONFLICT (name) DO UPDATE SET epoch = excluded.epoch
WHERE leader_lease.epoch < excluded.epoch
"""

# Per-node epoch floor (issue 12): a node that has seen an epoch central cannot vouch for (its
# command database was lost) gets commands at lease epoch + offset; no other node's epoch moves.
# Raised in one statement (never lowered) to the offset that makes its next epoch :seen + 1.
GET_OFFSET = "SELECT epoch_offset FROM cmd_epoch_offsets WHERE node = ?"
RAISE_OFFSET = """
INSERT INTO cmd_epoch_offsets (node, epoch_offset)
VALUES (:node, :seen + 1 - (SELECT COALESCE(MAX(epoch), 0) FROM leader_lease))
ON CONFLICT (node) DO UPDATE SET epoch_offset = excluded.epoch_offset
WHERE cmd_epoch_offsets.epoch_offset < excluded.epoch_offset
"""
ISSUED_EPOCH = "SELECT 1 FROM commands WHERE node = ? AND epoch = ? LIMIT 1"

# Commands issued and ack stages recorded, by kind (for /metrics; rows are never deleted).
STAGE_COUNTS = """
SELECT kind, 'issued' AS stage, COUNT(*) AS n FROM commands GROUP BY kind
UNION ALL
SELECT c.kind, a.stage, COUNT(*) AS n FROM command_acks a JOIN commands c ON c.cmd_id = a.cmd_id
GROUP BY c.kind, a.stage
"""
