"""The NOC's own tables (users, sessions, audit log, settings, sites) in central's database."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from central.api.auth import ROLES, token_digest
from central.clock import wall_ms
from central.noc.passwords import hash_password
from central.storage.statedb import DB_ERRORS, INTEGRITY_ERRORS, open_state

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS noc_users (
    username TEXT PRIMARY KEY,
    pw_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    disabled INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS noc_sessions (
    sid_sha256 TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES noc_users (username) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    seen_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS noc_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    actor TEXT NOT NULL,
    ip TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    ok INTEGER NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS noc_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS noc_sites (
    site TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'park',
    lat REAL,
    lon REAL,
    capacity_mbps REAL
);
"""
#: Migration n is entry n - 1 (central.storage.statedb); a change after release is a new entry.
MIGRATIONS = (SCHEMA, "ALTER TABLE noc_sites ADD COLUMN cost_month REAL")


class StoreError(ValueError):
    """A user or setting change that cannot be made: an English message (logs, CLI) and the
    catalogue key ``key`` with its ``params`` (what the NOC shows, in the user's language)."""

    def __init__(self, message: str, key: str = "", **params: object) -> None:
        super().__init__(message)
        self.key, self.params = key, params


@dataclass(frozen=True)
class User:
    """A NOC user account."""

    username: str
    role: str
    disabled: bool


@dataclass(frozen=True)
class LoginSession:
    """A live NOC login session (the id itself is never stored, only its SHA-256)."""

    sid_sha256: str
    user: User
    csrf: str
    seen_ms: int


class NocStore:
    """Users, sessions, audit, settings and sites; thread-safe (one connection, one lock)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)  # sqlite3 errors pass unchanged (handlers answer 500)
        self._db = open_state(self.path, "noc", MIGRATIONS,
                              pragmas=("journal_mode=WAL", "foreign_keys=ON"))

    # ------------------------------------------------------------ users
    def user_count(self) -> int:
        """How many accounts exist."""
        return int(self._db.all("SELECT COUNT(*) AS n FROM noc_users")[0]["n"])

    def create_user(self, username: str, password: str, role: str) -> User:
        """Create an account with an argon2id hash; StoreError if invalid or taken."""
        username = username.strip()
        if not (1 <= len(username) <= 64) or not username.replace("-", "").replace(
                "_", "").replace(".", "").isalnum():
            raise StoreError("username: 1-64 letters, digits, '-', '_', '.'", "err.username")
        if role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}", "err.role")
        if len(password) < 10:
            raise StoreError("password: at least 10 characters", "err.password")
        try:
            self._db.execute("INSERT INTO noc_users VALUES (?, ?, ?, 0, ?)",
                             (username, hash_password(password), role, wall_ms()))
        except INTEGRITY_ERRORS:
            raise StoreError(f"user {username!r} exists", "err.user_exists", user=username) from None
        return User(username, role, False)

    def pw_hash(self, username: str) -> tuple[User, str] | None:
        """The account and its stored hash, or None."""
        rows = self._db.all("SELECT * FROM noc_users WHERE username = ?", (username,))
        if not rows:
            return None
        r = rows[0]
        return User(r["username"], r["role"], bool(r["disabled"])), str(r["pw_hash"])

    def set_hash(self, username: str, pw_hash: str) -> None:
        """Store a re-hashed password (argon2 parameters changed)."""
        self._db.execute("UPDATE noc_users SET pw_hash = ? WHERE username = ?", (pw_hash, username))

    def users(self) -> list[User]:
        """Every account, by name."""
        return [User(r["username"], r["role"], bool(r["disabled"]))
                for r in self._db.all("SELECT * FROM noc_users ORDER BY username")]

    def update_user(self, username: str, role: str | None = None,
                    disabled: bool | None = None, password: str | None = None) -> None:
        """Change role, enabled state or password; ends the user's sessions."""
        if role is not None and role not in ROLES:
            raise StoreError(f"role must be one of {', '.join(ROLES)}", "err.role")
        if password is not None and len(password) < 10:
            raise StoreError("password: at least 10 characters", "err.password")
        if self.pw_hash(username) is None:
            raise StoreError(f"no user {username!r}", "err.no_user", user=username)
        if role is not None:
            self._db.execute("UPDATE noc_users SET role = ? WHERE username = ?", (role, username))
        if disabled is not None:
            self._db.execute("UPDATE noc_users SET disabled = ? WHERE username = ?",
                             (int(disabled), username))
        if password is not None:
            self.set_hash(username, hash_password(password))
        self._db.execute("DELETE FROM noc_sessions WHERE username = ?", (username,))

    def admins_left(self, except_user: str) -> int:
        """Enabled admins other than except_user."""
        return int(self._db.all("SELECT COUNT(*) AS n FROM noc_users WHERE role = 'admin' AND "
                                "disabled = 0 AND username != ?", (except_user,))[0]["n"])

    # ------------------------------------------------------------ sessions
    def add_session(self, sid: str, username: str, csrf: str) -> None:
        """Store a new session under the SHA-256 of its id."""
        now = wall_ms()
        self._db.execute("INSERT INTO noc_sessions VALUES (?, ?, ?, ?, ?)",
                         (token_digest(sid), username, csrf, now, now))

    def session(self, sid: str, idle_ms: int) -> LoginSession | None:
        """The live session of a cookie value (idle ones expire), touched at most once a minute."""
        rows = self._db.all("SELECT s.*, u.role, u.disabled FROM noc_sessions s JOIN noc_users u "
                            "USING (username) WHERE s.sid_sha256 = ?", (token_digest(sid),))
        now = wall_ms()
        if not rows:
            return None
        r = rows[0]
        if r["disabled"] or now - r["seen_ms"] > idle_ms:
            self._db.execute("DELETE FROM noc_sessions WHERE sid_sha256 = ?", (r["sid_sha256"],))
            return None
        if now - r["seen_ms"] > 60_000:
            self._db.execute("UPDATE noc_sessions SET seen_ms = ? WHERE sid_sha256 = ?",
                             (now, r["sid_sha256"]))
        return LoginSession(r["sid_sha256"], User(r["username"], r["role"], False), r["csrf"],
                       r["seen_ms"])

    def session_alive(self, sid_sha256: str, idle_ms: int) -> bool:
        """True if the session (by digest) exists and is not idle too long."""
        rows = self._db.all("SELECT seen_ms FROM noc_sessions WHERE sid_sha256 = ?", (sid_sha256,))
        return bool(rows) and wall_ms() - int(rows[0]["seen_ms"]) <= idle_ms

    def drop_session(self, sid_sha256: str) -> None:
        """End one session."""
        self._db.execute("DELETE FROM noc_sessions WHERE sid_sha256 = ?", (sid_sha256,))

    # ------------------------------------------------------------ audit
    def audit(self, actor: str, ip: str, action: str, target: str, ok: bool,
              detail: dict[str, Any] | None = None) -> None:
        """Append one audit record (never pass secrets in detail)."""
        self._db.execute("INSERT INTO noc_audit (ts_ms, actor, ip, action, target, ok, detail) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (wall_ms(), actor, ip, action, target, int(ok), json.dumps(detail or {})))
        log.info("audit: %s %s %s ok=%s", actor, action, target, ok)

    def audit_log(self, limit: int = 200, offset: int = 0, actor: str | None = None,
                  action: str | None = None, since_ms: int | None = None,
                  until_ms: int | None = None) -> list[dict[str, Any]]:
        """Newest audit records first, optionally of one actor, action and [since, until)."""
        where, args = self._audit_where(actor, action, since_ms, until_ms)
        return [dict(r) for r in self._db.all(
            f"SELECT * FROM noc_audit{where} ORDER BY id DESC LIMIT ? OFFSET ?",
            (*args, limit, offset))]

    def audit_count(self, actor: str | None = None, action: str | None = None,
                    since_ms: int | None = None, until_ms: int | None = None) -> int:
        """How many audit records match the filter of audit_log()."""
        where, args = self._audit_where(actor, action, since_ms, until_ms)
        return int(self._db.all(f"SELECT COUNT(*) AS n FROM noc_audit{where}", args)[0]["n"])

    def audit_values(self, column: str) -> list[str]:
        """The distinct actors or actions of the audit log, sorted."""
        if column not in ("actor", "action"):
            raise ValueError(column)
        return [str(r["v"]) for r in self._db.all(
            f"SELECT DISTINCT {column} AS v FROM noc_audit ORDER BY v")]

    @staticmethod
    def _audit_where(actor: str | None, action: str | None, since_ms: int | None,
                     until_ms: int | None) -> tuple[str, tuple[Any, ...]]:
        conds, args = [], []
        for cond, arg in (("actor = ?", actor), ("action = ?", action), ("ts_ms >= ?", since_ms),
                          ("ts_ms < ?", until_ms)):
            if arg is not None:
                conds.append(cond)
                args.append(arg)
        return (" WHERE " + " AND ".join(conds) if conds else ""), tuple(args)

    # ------------------------------------------------------------ settings and sites
    def setting(self, key: str, default: str = "") -> str:
        """One setting value."""
        rows = self._db.all("SELECT value FROM noc_settings WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else default

    def set_setting(self, key: str, value: str) -> None:
        """Store one setting."""
        self._db.execute("INSERT OR REPLACE INTO noc_settings VALUES (?, ?)", (key, value))

    def sites(self) -> dict[str, dict[str, Any]]:
        """Site metadata (name, kind, lat, lon, capacity_mbps, cost_month) by site id.

        ``cost_month``: what the site's contract costs per month, in Rupiah (None: unknown)."""
        return {r["site"]: dict(r) for r in self._db.all("SELECT * FROM noc_sites ORDER BY site")}

    def upsert_site(self, site: str, name: str, kind: str, lat: float | None,
                    lon: float | None, capacity_mbps: float | None,
                    cost_month: float | None = None, keep_cost: bool = False) -> None:
        """Insert or replace one site's metadata (keep_cost: leave a stored cost as it is)."""
        cost = "noc_sites.cost_month" if keep_cost else "excluded.cost_month"
        self._db.execute(
            "INSERT INTO noc_sites (site, name, kind, lat, lon, capacity_mbps, cost_month) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (site) DO UPDATE SET name = excluded.name, "
            "kind = excluded.kind, lat = excluded.lat, lon = excluded.lon, "
            f"capacity_mbps = excluded.capacity_mbps, cost_month = {cost}",
            (site, name, kind, lat, lon, capacity_mbps, cost_month))

    def load_sites_file(self, path: str | Path) -> int:
        """Load sites from a JSON file like agent/sim/sampit.json ({"sites": [...]}); count."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        sites = data["sites"] if isinstance(data, dict) else data
        for s in sites:
            self.upsert_site(s["site"], s.get("name", ""), s.get("kind", "park"),
                             s.get("lat"), s.get("lon"), s.get("capacity_mbps"),
                             s.get("cost_month"), keep_cost="cost_month" not in s)
        return len(sites)

    def primary_uplinks(self) -> dict[str, str]:
        """Each node's primary uplink (lowest priority in its birth), read from central's nodes.

        Central's Storage protocol has no such field yet; this read-only query and
        ``node_commands`` are where the NOC reads central's other tables directly.
        """
        try:
            rows = self._db.all("SELECT node, birth FROM nodes WHERE birth IS NOT NULL")
        except DB_ERRORS:
            return {}
        out: dict[str, str] = {}
        for r in rows:
            try:
                birth = r["birth"]
                ups = (json.loads(birth) if isinstance(birth, str) else birth).get("uplinks") or []
            except ValueError:
                continue
            if ups:
                out[r["node"]] = min(ups, key=lambda u: u.get("priority", 0))["name"]
        return out

    def node_commands(self, node: str, limit: int = 500) -> list[dict[str, Any]]:
        """The node's newest commands (cmd_id, kind, version, params, issued_at_ms, origin,
        issued_by) from central's commands table in this state database, SQLite or PostgreSQL;
        [] without that table (central without the command service)."""
        try:
            return self._db.all(
                "SELECT cmd_id, kind, version, params, issued_at_ms, origin, issued_by "
                "FROM commands WHERE node = ? ORDER BY issued_at_ms DESC LIMIT ?", (node, limit))
        except DB_ERRORS:
            return []

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


def create_user(db_path: str | Path, username: str, password: str, role: str = "admin") -> User:
    """Create a NOC account in a central database file (no running central needed)."""
    store = NocStore(db_path)
    try:
        return store.create_user(username, password, role)
    finally:
        store.close()
